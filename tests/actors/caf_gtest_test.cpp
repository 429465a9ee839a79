// The bridge between CAF's test DSL and GoogleTest (tests/actors/caf_gtest.cpp):
// the DSL's checks must be able to fail a GoogleTest test, or every actor
// test built on expect() would pass whatever the actors do.

#include <gtest/gtest-spi.h>

#include "tests/actors/fixture.hpp"

namespace hearth::testing {
namespace {

class caf_gtest : public ::testing::Test,
                  public test_coordinator_fixture<caf::actor_system_config> {
 protected:
  caf::actor spawn_testee() {
    return sys.spawn([](caf::event_based_actor*) -> caf::behavior { return {[](int) {}}; });
  }
};

TEST_F(caf_gtest, a_matching_expect_passes_and_runs_the_message) {
  auto testee = spawn_testee();
  sched.run();
  caf::anon_send(testee, 1);
  expect((int), from(_).to(testee).with(1));
  EXPECT_FALSE(sched.has_job()) << "expect() ran the message";
  anon_send_exit(testee, caf::exit_reason::user_shutdown);
}

TEST_F(caf_gtest, an_expect_with_another_value_fails_the_test) {
  auto testee = spawn_testee();
  sched.run();
  caf::anon_send(testee, 1);
  EXPECT_NONFATAL_FAILURE(expect((int), from(_).to(testee).with(2)), "CAF check failed");
  anon_send_exit(testee, caf::exit_reason::user_shutdown);
}

TEST_F(caf_gtest, an_expect_of_another_type_ends_the_test) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto testee = spawn_testee();
  sched.run();
  caf::anon_send(testee, 1);
  EXPECT_DEATH(expect((std::string), from(_).to(testee)), "CAF requirement failed");
  anon_send_exit(testee, caf::exit_reason::user_shutdown);
}

TEST_F(caf_gtest, an_expect_on_an_idle_actor_ends_the_test) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto testee = spawn_testee();
  sched.run();
  EXPECT_DEATH(expect((int), from(_).to(testee)), "CAF requirement failed");
  anon_send_exit(testee, caf::exit_reason::user_shutdown);
}

TEST_F(caf_gtest, a_disallowed_message_ends_the_test) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto testee = spawn_testee();
  sched.run();
  caf::anon_send(testee, 1);
  EXPECT_DEATH(disallow((int), from(_).to(testee)), "CAF requirement failed");
  anon_send_exit(testee, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace hearth::testing
