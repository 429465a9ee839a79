// Real hearth processes for the integration tests.

#include "tests/support/hearth_process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "storage/process.hpp"
#include "tests/support/throwaway_postgres.hpp"

extern char** environ;

#ifndef HEARTH_BINARY
#error "HEARTH_BINARY must name the hearth executable"
#endif

namespace hearth::testing {

namespace {

// hearth rejects unknown HEARTH_* variables and must not inherit whatever the
// developer running the tests has set (HEARTH_DATABASE_URL above all): remove
// every HEARTH_* variable from this process's environment, which the children
// inherit. HEARTH_TEST_DATABASE_URL is cached first for throwaway_postgres.
void scrub_hearth_environment() {
  (void)external_test_database_url();
  std::vector<std::string> names;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    if (entry.rfind("HEARTH_", 0) != 0) continue;
    names.push_back(entry.substr(0, entry.find('=')));
  }
  for (const auto& name : names) ::unsetenv(name.c_str());
}

std::filesystem::path make_temp_dir() {
  char templ[] = "/tmp/hthXXXXXX";
  if (::mkdtemp(templ) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp for hearth process");
  }
  return templ;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string tail(const std::string& text, std::size_t max_bytes = 4000) {
  if (text.size() <= max_bytes) return text;
  return "…" + text.substr(text.size() - max_bytes);
}

std::vector<std::string> make_argv(const std::vector<std::string>& args,
                                   const std::vector<std::string>& prefix = {},
                                   const std::filesystem::path& binary = {}) {
  std::vector<std::string> argv = prefix;
  argv.push_back(binary.empty() ? std::string(HEARTH_BINARY) : binary.string());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

hearth_process::hearth_process(std::map<std::string, std::string> env,
                               std::vector<std::string> args, std::vector<std::string> prefix,
                               std::filesystem::path binary) {
  scrub_hearth_environment();
  dir_ = make_temp_dir();
  const auto ready_file = dir_ / "ready.json";
  // Defaults; the caller's values win (std::map::emplace keeps existing keys).
  env.emplace("HEARTH_HTTP_ADDR", "127.0.0.1:0");
  env.emplace("HEARTH_READY_FILE", ready_file.string());
  env.emplace("HEARTH_LOG_LEVEL", "debug");
  for (auto it = env.begin(); it != env.end();)  // "" = leave the variable unset
    it = it->second.empty() ? env.erase(it) : std::next(it);
  const std::filesystem::path ready_path = env["HEARTH_READY_FILE"];
  ready_file_ = ready_path;

  storage::spawn_options options;
  options.env = env;
  options.log_file = (dir_ / "hearth.log").string();
  pid_ = storage::spawn_process(make_argv(args, prefix, binary), options);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    // The file is written atomically (rename), so once it exists it is whole.
    std::error_code ec;
    if (std::filesystem::exists(ready_path, ec)) {
      std::string text = read_file(ready_path);
      try {
        auto port = boost::json::parse(text).as_object().at("httpPort").to_number<int>();
        if (port <= 0 || port > 65535) throw std::out_of_range("httpPort out of range");
        port_ = static_cast<std::uint16_t>(port);
        return;
      } catch (const std::exception& e) {
        kill(pid_, SIGKILL);
        storage::wait_process(pid_, std::chrono::seconds(10));
        pid_ = -1;
        throw std::runtime_error("hearth wrote a bad ready file (" + std::string(e.what()) +
                                 "): " + text + "\nlog:\n" + tail(log()));
      }
    }
    // Polling the ready file: a short wait on the child doubles as the sleep.
    if (auto code = storage::wait_process(pid_, std::chrono::milliseconds(20))) {
      pid_ = -1;
      throw std::runtime_error("hearth exited with code " + std::to_string(*code) +
                               " before it was ready; log:\n" + tail(log()));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      storage::wait_process(pid_, std::chrono::seconds(10));
      pid_ = -1;
      throw std::runtime_error("hearth was not ready within 30 s; log:\n" + tail(log()));
    }
  }
}

hearth_process::~hearth_process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    storage::wait_process(pid_, std::chrono::seconds(10));
  }
  // In the sanitizer preset, a finding in the server fails the test that
  // started it (UBSan reports and goes on, so the exit code alone misses it).
  auto text = log();
  for (const char* finding : {"runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer"})
    if (text.find(finding) != std::string::npos)
      ADD_FAILURE() << "hearth reported a sanitizer finding:\n" << tail(text);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

int hearth_process::stop(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) throw std::logic_error("hearth_process::stop: not running");
  ::kill(pid_, signal);
  auto code = storage::wait_process(pid_, timeout);
  if (!code) {
    throw std::runtime_error("hearth did not exit within " + std::to_string(timeout.count()) +
                             " ms after signal " + std::to_string(signal) + "; log:\n" +
                             tail(log()));
  }
  pid_ = -1;
  return *code;
}

std::string hearth_process::log() const { return read_file(dir_ / "hearth.log"); }

std::pair<int, std::string> hearth_process::run(std::map<std::string, std::string> env,
                                                std::vector<std::string> args) {
  scrub_hearth_environment();
  const auto dir = make_temp_dir();
  storage::spawn_options options;
  options.env = std::move(env);
  options.log_file = (dir / "output.log").string();
  pid_t pid = storage::spawn_process(make_argv(args), options);
  auto code = storage::wait_process(pid, std::chrono::seconds(60));
  if (!code) {
    ::kill(pid, SIGKILL);
    storage::wait_process(pid, std::chrono::seconds(10));
  }
  std::string output = read_file(dir / "output.log");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!code)
    throw std::runtime_error("hearth did not finish within 60 s; output:\n" + tail(output));
  return {*code, output};
}

}  // namespace hearth::testing
