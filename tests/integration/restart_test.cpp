// Embedded PostgreSQL: hearth without HEARTH_DATABASE_URL keeps its data under
// HEARTH_DATA_DIR across a restart, and says in its log which data
// directory it uses (absolute) and whether it created, started or joined
// the server.

#include <signal.h>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

std::string first_id(const http_response& res) { return str(first_value(res), "id"); }

TEST(embedded_database, data_survives_a_restart) {
  temp_dir dir;
  const auto data_dir = (dir.path / "data").string();
  // No HEARTH_DATABASE_URL: hearth_process removes any inherited HEARTH_*
  // variable from this process's environment before spawning.
  const std::map<std::string, std::string> env{{"HEARTH_DATA_DIR", data_dir}};
  const auto email = unique_email("restart");
  const std::string password = "survives restarts";
  std::string household, item;
  {
    hearth_process first(env);
    http_client http(first.port());
    require_status(
        http.request("POST", "/api/v1/auth/signup",
                     json::serialize(json::object{
                         {"emailAddress", email}, {"password", password}, {"name", "Restart"}})),
        201, "signup");
    auto signin = http.request(
        "POST", "/api/v1/auth/signin",
        json::serialize(json::object{{"emailAddress", email}, {"password", password}}));
    require_status(signin, 201, "signin");
    const auto key = str(first_value(signin), "key");
    auto hh = http.request_as(key, "POST", "/api/v1/auth/households",
                              json::serialize(json::object{{"name", "Persistent"}}));
    require_status(hh, 201, "household");
    household = first_id(hh);
    auto it = http.request_as(
        key, "POST", "/api/v1/shop/items",
        json::serialize(json::object{{"authHouseholdID", household}, {"name", "Durable"}}));
    require_status(it, 201, "item");
    item = first_id(it);
    EXPECT_NE(first.log().find("embedded PostgreSQL: created a new, empty database cluster in " +
                               data_dir),
              std::string::npos)
        << first.log();
    // Another process on the same data directory joins the running server.
    auto [code, printed] = hearth_process::run(env, {"migrate"});
    EXPECT_EQ(code, 0) << printed;
    EXPECT_NE(
        printed.find("embedded PostgreSQL: joined the server already running for " + data_dir),
        std::string::npos)
        << printed;
    EXPECT_EQ(printed.find("created"), std::string::npos) << printed;
    // The server's socket lives beside the data, not in /tmp, and goes
    // with the last stop.
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(data_dir) / "run/.s.PGSQL.5432"));
    EXPECT_EQ(first.stop(SIGTERM), 0) << first.log();
    EXPECT_FALSE(std::filesystem::exists(first.ready_file()))
        << "the ready file names a process that is gone";
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(data_dir) / "run"))
        << "the socket directory stayed behind";
  }
  {
    hearth_process second(env);
    http_client http(second.port());
    auto signin = http.request(
        "POST", "/api/v1/auth/signin",
        json::serialize(json::object{{"emailAddress", email}, {"password", password}}));
    ASSERT_EQ(signin.status, 201u) << signin.body << "\n" << second.log();
    EXPECT_NE(second.log().find("embedded PostgreSQL: started the server of " + data_dir),
              std::string::npos)
        << second.log();
    const auto key = str(first_value(signin), "key");
    auto got = http.request_as(key, "GET", "/api/v1/shop/items/" + item);
    ASSERT_EQ(got.status, 200u) << got.body;
    EXPECT_EQ(str(first_value(got), "name"), "Durable");
    EXPECT_EQ(str(first_value(got), "authHouseholdID"), household);
    auto list = http.request_as(key, "GET", "/api/v1/auth/households");
    ASSERT_EQ(list.status, 200u);
    EXPECT_EQ(first_id(list), household);
    EXPECT_EQ(second.stop(SIGTERM), 0) << second.log();
  }
}

}  // namespace
}  // namespace hearth::testing
