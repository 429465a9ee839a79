#pragma once
// Shared fixture of the integration tests: a fresh database in the throwaway
// cluster, one real hearth process serving it, an HTTP client, and helpers for
// the common API calls. Helpers throw std::runtime_error (a test failure with
// the response in the message) when the server does not answer as expected.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "tests/support/hearth_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/throwaway_postgres.hpp"

namespace hearth::testing {

namespace json = boost::json;
using namespace std::chrono_literals;

/// A fresh directory under /tmp, removed with its contents at scope exit.
/// Traversable by the `postgres` user (hearth runs PostgreSQL as it when
/// root), so an embedded cluster stays inside it and goes with it.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    char templ[] = "/tmp/hrsXXXXXX";
    if (::mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = templ;
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                  std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                  std::filesystem::perms::others_exec);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

/// A signed-up, signed-in account.
struct test_user {
  std::string email;
  std::string password;
  std::string name;
  std::string account_id;
  std::string key;  // session key for `Authorization: Bearer`
};

/// Emails unique across tests and test processes.
inline std::string unique_email(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "." + std::to_string(::getpid()) + "." + std::to_string(counter++) +
         "@example.com";
}

/// Fails with the response when its status is not `expected`.
inline void require_status(const http_response& res, unsigned expected, const std::string& what) {
  if (res.status != expected) {
    throw std::runtime_error(what + ": expected status " + std::to_string(expected) + ", got " +
                             std::to_string(res.status) + ": " + res.body.substr(0, 800));
  }
}

/// The first element of dataValue.
inline json::object first_value(const http_response& res) {
  auto v = res.json();
  const auto& arr = v.as_object().at("dataValue").as_array();
  if (arr.empty()) throw std::runtime_error("empty dataValue: " + res.body);
  return arr.at(0).as_object();
}

inline std::string str(const json::value& v) { return std::string(v.as_string()); }
inline std::string str(const json::object& o, const char* key) {
  return std::string(o.at(key).as_string());
}

/// Checks the common envelope; returns the parsed body.
inline json::object check_envelope(const http_response& res, unsigned status,
                                   const std::string& data_type = "") {
  EXPECT_EQ(res.status, status) << res.body;
  auto parsed = res.json();
  EXPECT_TRUE(parsed.is_object()) << res.body;
  auto obj = parsed.as_object();
  EXPECT_TRUE(obj.contains("success") && obj.at("success").is_bool()) << res.body;
  if (obj.contains("success") && obj.at("success").is_bool()) {
    EXPECT_EQ(obj.at("success").as_bool(), status < 400) << res.body;
  }
  EXPECT_TRUE(obj.contains("status") && obj.at("status").is_number()) << res.body;
  if (obj.contains("status") && obj.at("status").is_number()) {
    EXPECT_EQ(obj.at("status").to_number<unsigned>(), status) << res.body;
  }
  EXPECT_TRUE(obj.contains("message") && obj.at("message").is_string()) << res.body;
  EXPECT_TRUE(obj.contains("requestID") && obj.at("requestID").is_string()) << res.body;
  EXPECT_TRUE(obj.contains("dataType") && obj.at("dataType").is_string()) << res.body;
  EXPECT_TRUE(obj.contains("dataTotal") && obj.at("dataTotal").is_number()) << res.body;
  EXPECT_TRUE(obj.contains("dataValue") && obj.at("dataValue").is_array()) << res.body;
  if (obj.contains("dataValue") && obj.at("dataValue").is_array() && status >= 400) {
    EXPECT_TRUE(obj.at("dataValue").as_array().empty()) << res.body;
  }
  if (!data_type.empty() && obj.contains("dataType") && obj.at("dataType").is_string()) {
    EXPECT_EQ(str(obj.at("dataType")), data_type) << res.body;
  }
  EXPECT_FALSE(res.header("x-request-id").empty()) << "no X-Request-ID header";
  return obj;
}

/// The error message of an error envelope ("" when absent).
inline std::string message_of(const http_response& res) {
  try {
    auto v = res.json();
    if (v.is_object() && v.as_object().contains("message") &&
        v.as_object().at("message").is_string()) {
      return str(v.as_object().at("message"));
    }
  } catch (const std::exception&) {
  }
  return "";
}

/// Signs up and signs in a fresh account through `http` (any server).
inline test_user new_user_on(http_client& http, const std::string& name) {
  test_user u;
  u.email = unique_email(name);
  u.password = "correct horse " + name;
  u.name = name;
  auto res =
      http.request("POST", "/api/v1/auth/signup",
                   json::serialize(json::object{
                       {"emailAddress", u.email}, {"password", u.password}, {"name", name}}));
  require_status(res, 201, "signup " + u.email);
  u.account_id = str(first_value(res), "id");
  auto signin = http.request(
      "POST", "/api/v1/auth/signin",
      json::serialize(json::object{{"emailAddress", u.email}, {"password", u.password}}));
  require_status(signin, 201, "signin " + u.email);
  u.key = str(first_value(signin), "key");
  return u;
}

/// Creates a household owned by `key`'s account through `http`; its id.
inline std::string create_household_on(http_client& http, const std::string& key,
                                       const std::string& name) {
  auto res = http.request_as(key, "POST", "/api/v1/auth/households",
                             json::serialize(json::object{{"name", name}}));
  require_status(res, 201, "create household " + name);
  return str(first_value(res), "id");
}

class hearth_test : public ::testing::Test {
 protected:
  /// Extra environment for hearth (e.g. SSE tuning); overridden by suites.
  virtual std::map<std::string, std::string> extra_env() { return {}; }

  void SetUp() override {
    database_url_ = throwaway_postgres::shared().create_database();
    auto env = extra_env();
    env["HEARTH_DATABASE_URL"] = database_url_;
    hearth_ = std::make_unique<hearth_process>(env);
    http_ = std::make_unique<http_client>(port());
  }

  void TearDown() override {
    http_.reset();
    if (HasFailure() && hearth_) {
      std::string log = hearth_->log();
      if (log.size() > 6000) log = log.substr(log.size() - 6000);
      std::cerr << "---- hearth log tail ----\n" << log << "\n---- end ----\n";
    }
    hearth_.reset();
  }

  std::uint16_t port() const { return hearth_->port(); }
  http_client& http() { return *http_; }

  static std::string signup_body(const std::string& email, const std::string& password,
                                 const std::string& name) {
    return json::serialize(
        json::object{{"emailAddress", email}, {"password", password}, {"name", name}});
  }

  http_response signup(const std::string& email, const std::string& password,
                       const std::string& name) {
    return http().request("POST", "/api/v1/auth/signup", signup_body(email, password, name));
  }

  http_response signin_response(const std::string& email, const std::string& password) {
    return http().request(
        "POST", "/api/v1/auth/signin",
        json::serialize(json::object{{"emailAddress", email}, {"password", password}}));
  }

  /// Signs in; returns the session key.
  std::string signin(const std::string& email, const std::string& password) {
    auto res = signin_response(email, password);
    require_status(res, 201, "signin " + email);
    return str(first_value(res), "key");
  }

  /// Signs up and signs in a fresh account.
  test_user new_user(const std::string& name) { return new_user_on(http(), name); }

  http_response create_household_response(const std::string& key, const std::string& name) {
    return http().request_as(key, "POST", "/api/v1/auth/households",
                             json::serialize(json::object{{"name", name}}));
  }

  /// Creates a household owned by the caller; returns its id.
  std::string create_household(const std::string& key, const std::string& name) {
    return create_household_on(http(), key, name);
  }

  http_response add_member_response(const std::string& key, const std::string& household,
                                    const std::string& email, const std::string& permissions) {
    return http().request_as(
        key, "POST", "/api/v1/auth/households/" + household + "/members",
        json::serialize(json::object{{"emailAddress", email}, {"permissions", permissions}}));
  }

  void add_member(const std::string& key, const std::string& household, const std::string& email,
                  const std::string& permissions) {
    require_status(add_member_response(key, household, email, permissions), 201,
                   "add member " + email + " as " + permissions);
  }

  http_response create_item_response(const std::string& key, const std::string& household,
                                     const std::string& name) {
    return http().request_as(
        key, "POST", "/api/v1/shop/items",
        json::serialize(json::object{{"authHouseholdID", household}, {"name", name}}));
  }

  /// Creates a ShopItem; returns the item object.
  json::object create_item(const std::string& key, const std::string& household,
                           const std::string& name) {
    auto res = create_item_response(key, household, name);
    require_status(res, 201, "create item " + name);
    return first_value(res);
  }

  /// Creates a PlanTask; returns the task object.
  json::object create_task(const std::string& key, const std::string& household,
                           const std::string& name,
                           std::optional<std::string> due_date = std::nullopt) {
    json::object body{{"authHouseholdID", household}, {"name", name}};
    if (due_date) body["dueDate"] = *due_date;
    auto res = http().request_as(key, "POST", "/api/v1/plan/tasks", json::serialize(body));
    require_status(res, 201, "create task " + name);
    return first_value(res);
  }

  /// An SSE stream authenticated with a bearer key.
  std::unique_ptr<sse_client> open_sse(const std::string& key,
                                       std::map<std::string, std::string> headers = {},
                                       int receive_buffer_bytes = 0) {
    headers["Authorization"] = "Bearer " + key;
    return std::make_unique<sse_client>(port(), headers, "/api/v1/sse", receive_buffer_bytes);
  }

  std::string database_url_;
  std::unique_ptr<hearth_process> hearth_;
  std::unique_ptr<http_client> http_;
};

/// Every household of the database at `url` whose change_event seqs are
/// not exactly 1..event_seq (a gap, a duplicate, a seq taken by nothing),
/// one line each; "" when there is none.
inline std::string seq_gaps(const std::string& url) {
  pqxx::connection conn{url};
  pqxx::read_transaction tx{conn};
  std::string out;
  for (const auto& r :
       tx.exec("SELECT h.id, h.event_seq, count(e.seq), coalesce(max(e.seq), 0) "
               "FROM auth_household h LEFT JOIN change_event e ON e.auth_household_id = h.id "
               "GROUP BY h.id, h.event_seq")) {
    const auto head = r[1].as<std::int64_t>();
    if (r[2].as<std::int64_t>() != head || r[3].as<std::int64_t>() != head)
      out += std::string(r[0].c_str()) + ": event_seq " + r[1].c_str() + ", " + r[2].c_str() +
             " events, max seq " + r[3].c_str() + "\n";
  }
  return out;
}

/// The JSON data of a `change` event.
inline json::object change_data(const sse_event& ev) { return json::parse(ev.data).as_object(); }

// Polls `check` every 20 ms until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& check, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!check()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

/// Reads events until one of type `name` arrives (skipping others) or the
/// deadline passes.
inline std::optional<sse_event> next_event(sse_client& sse, const std::string& name,
                                           std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto ev = sse.next(left);
    if (!ev) return std::nullopt;
    if (ev->event == name) return ev;
  }
}

/// next_event of type `change`.
inline std::optional<sse_event> next_change(sse_client& sse,
                                            std::chrono::milliseconds timeout = 5s) {
  return next_event(sse, "change", timeout);
}

}  // namespace hearth::testing
