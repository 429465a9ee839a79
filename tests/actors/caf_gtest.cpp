// CAF's deterministic test DSL (caf/test/dsl.hpp: test_coordinator_fixture,
// expect, allow, disallow, inject) reports through CAF's own unit-test engine
// (caf/test/unit_test.hpp), whose definitions normally come from
// caf/test/unit_test_impl.hpp together with CAF's main(). hearth's tests run
// under GoogleTest, so this file defines the part of that engine the DSL
// calls and routes its verdicts to GoogleTest:
//   - a failed CAF_CHECK* (e.g. expect(...).with(x) saw another value) is a
//     non-fatal GoogleTest failure carrying CAF's text (file:line, both values);
//   - a failed CAF_REQUIRE / CAF_FAIL (e.g. expect() found no message, or one of
//     another type; disallow() found the message) records the failure and
//     throws. CAF's own engine aborts there; expect() checks in its
//     destructor, where the throw ends the process (std::terminate) after
//     GoogleTest has printed the failure, so the test fails either way.
// Only CAF's checks go through here; the tests' own assertions are gtest's.

#include <gtest/gtest.h>

#include <caf/test/unit_test.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>

namespace caf::test {
namespace {

// What CAF printed for the check under way (its logger writes here).
std::ostringstream& caf_output() {
  static std::ostringstream out;
  return out;
}

std::string take_output() {
  static const std::regex colors("\x1b\\[[0-9;]*m");
  auto text = std::regex_replace(caf_output().str(), colors, "");
  caf_output().str("");
  caf_output().clear();
  return text;
}

// The one "test" CAF's macros report to: every check of every GoogleTest test.
class gtest_adapter final : public test {
 public:
  gtest_adapter() : test("googletest", false) {}
  void run_test_impl() override {}
};

gtest_adapter& adapter() {
  static gtest_adapter t;
  return t;
}

const char* g_check_file = "<none>";
size_t g_check_line = 0;
char g_program[] = "hearth_actor_tests";
char* g_argv[] = {g_program, nullptr};

}  // namespace

// -- test ---------------------------------------------------------------------

test::test(std::string test_name, bool disabled_by_default)
    : expected_failures_(0),
      name_(std::move(test_name)),
      good_(0),
      bad_(0),
      disabled_(disabled_by_default) {}

test::~test() = default;

size_t test::expected_failures() const { return expected_failures_; }

void test::pass() {
  ++good_;
  take_output();
}

void test::fail(bool expected) {
  ++bad_;
  if (expected) {  // CAF_CHECK_FAIL: a check meant to fail did
    ++expected_failures_;
    take_output();
    return;
  }
  ADD_FAILURE() << "CAF check failed: " << take_output();
  std::fflush(stdout);
}

const std::string& test::name() const { return name_; }

// -- detail -------------------------------------------------------------------

namespace detail {

[[noreturn]] void requirement_failed(const std::string& msg) {
  // The failure itself was recorded by test::fail() (CAF_REQUIRE and
  // CAF_FAIL call it first). Print what CAF added, then stop the test.
  auto rest = take_output();
  std::fprintf(stderr, "CAF requirement failed: %s\n%s", msg.c_str(), rest.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  // A second failure while the first unwinds (expect() checks again in its
  // destructor): end here rather than in std::terminate.
  if (std::uncaught_exceptions() > 0) std::abort();
  throw std::logic_error("CAF requirement failed: " + msg);
}

const char* fill(size_t line) {
  if (line < 10) return "    ";
  if (line < 100) return "   ";
  if (line < 1000) return "  ";
  return " ";
}

void remove_trailing_spaces(std::string& x) {
  while (!x.empty() && std::isspace(static_cast<unsigned char>(x.back()))) x.pop_back();
}

bool check(test* parent, const char* file, size_t line, const char* expr, bool should_fail,
           bool result) {
  auto out = logger::instance().massive();
  if (result) {
    out << "** " << file << ":" << line << fill(line) << expr << '\n';
    parent->pass();
  } else {
    out << "!! " << file << ":" << line << fill(line) << expr << '\n';
    parent->fail(should_fail);
  }
  return result;
}

}  // namespace detail

// -- logger: everything at every level goes to caf_output() --------------------

logger::logger()
    : level_console_(level::massive), level_file_(level::quiet), console_(&caf_output()) {}

logger& logger::instance() {
  static logger l;
  return l;
}

logger::stream::stream(logger& parent, logger::level lvl) : parent_(parent), lvl_(lvl) {}

logger::stream logger::error() { return stream{*this, level::error}; }
logger::stream logger::info() { return stream{*this, level::info}; }
logger::stream logger::verbose() { return stream{*this, level::verbose}; }
logger::stream logger::massive() { return stream{*this, level::massive}; }
void logger::disable_colors() {}

// -- engine: no suites of its own; argc/argv for the fixture's config parse ----

int engine::argc() { return 1; }
char** engine::argv() { return g_argv; }
test* engine::current_test() { return &adapter(); }
const char* engine::last_check_file() { return g_check_file; }
void engine::last_check_file(const char* file) { g_check_file = file; }
size_t engine::last_check_line() { return g_check_line; }
void engine::last_check_line(size_t line) { g_check_line = line; }

}  // namespace caf::test
