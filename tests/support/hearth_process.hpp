#pragma once
// A real `hearth` process started by a test, with its own environment, and
// its HTTP port read from the ready file hearth writes once it listens.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace hearth::testing {

class hearth_process {
 public:
  /// Starts `hearth <args>` with `env` added to the parent's environment
  /// (HEARTH_HTTP_ADDR defaults to 127.0.0.1:0, HEARTH_READY_FILE to a
  /// temporary file, HEARTH_LOG_LEVEL to debug; a variable given as "" is
  /// left unset). Waits (≤ 30 s) until the ready file appears; throws
  /// std::runtime_error with the log tail when the process exits first.
  /// `prefix`: a command that runs hearth (e.g. {"ip", "netns", "exec",
  /// NAME} to start it in a network namespace; it must exec, keeping the pid).
  /// `binary`: another hearth executable (e.g. one unpacked from the
  /// Debian package); empty = the build's.
  explicit hearth_process(std::map<std::string, std::string> env,
                          std::vector<std::string> args = {"serve"},
                          std::vector<std::string> prefix = {}, std::filesystem::path binary = {});
  ~hearth_process();  // SIGKILL if still running
  hearth_process(const hearth_process&) = delete;
  hearth_process& operator=(const hearth_process&) = delete;

  /// The HTTP port hearth bound (from the ready file).
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  /// The ready file ({"httpPort","clusterPort","pid"}); a successor started
  /// by a zero-downtime restart rewrites it.
  const std::filesystem::path& ready_file() const { return ready_file_; }
  /// Sends `signal` and waits ≤ `timeout` for the exit; returns the exit code
  /// (128+signal when killed). Throws when it does not exit in time.
  int stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// Everything the process has printed so far (stdout+stderr).
  std::string log() const;

  /// Runs `hearth <args>` to completion (≤ 60 s) and returns {exit code, output}.
  static std::pair<int, std::string> run(std::map<std::string, std::string> env,
                                         std::vector<std::string> args);

 private:
  std::filesystem::path dir_;
  std::filesystem::path ready_file_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace hearth::testing
