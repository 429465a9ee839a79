#pragma once
// Child processes without a shell: argv vectors only, so no quoting bugs and
// no injection. Used to drive PostgreSQL's initdb/pg_ctl for the embedded
// database and by the tests to start real hearth processes.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hearth::storage {

/// Options for a child process.
struct spawn_options {
  /// Run as this system user (needs root); empty = the current user.
  std::string run_as;
  /// Extra environment variables, added to (and overriding) the parent's.
  std::map<std::string, std::string> env;
  /// Redirect stdout+stderr to this file (appended); empty = inherit.
  std::string log_file;
  /// Working directory of the child; empty = inherit.
  std::string work_dir;
};

/// Starts `argv[0]` (looked up in PATH when it has no '/') with `argv`.
/// Returns the child's pid. Throws std::system_error when it cannot start.
pid_t spawn_process(const std::vector<std::string>& argv, const spawn_options& options = {});

/// Waits for `pid` to exit, up to `timeout`. Returns the exit code (128+signal
/// when killed by a signal) or std::nullopt when it is still running.
std::optional<int> wait_process(pid_t pid, std::chrono::milliseconds timeout);

/// spawn_process + wait_process; throws std::runtime_error on timeout (after
/// killing the child). Returns the exit code.
int run_process(const std::vector<std::string>& argv, const spawn_options& options = {},
                std::chrono::milliseconds timeout = std::chrono::minutes(2));

/// The uid/gid of a system user, or std::nullopt when no such user exists.
struct user_ids {
  uid_t uid;
  gid_t gid;
};
std::optional<user_ids> lookup_user(const std::string& name);

}  // namespace hearth::storage
