// The HTTP engine in-process, with handlers written to misbehave: an
// exception in a handler becomes a 500 envelope (400 for input errors) and a
// record for the observer, and the server keeps serving.

#include <mutex>
#include <thread>

#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "http/server.hpp"
#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

TEST(engine, a_throwing_handler_gets_a_500_envelope_and_the_server_lives_on) {
  http::router routes;
  routes.add({"GET", "/boom", [](const http::request&, http::responder) {
                throw std::runtime_error("handler bug");
              }});
  routes.add({"GET", "/bad-input", [](const http::request&, http::responder) {
                throw http::input_error("name: must not be empty");
              }});
  routes.add({"GET", "/fine", [](const http::request& req, http::responder respond) {
                respond(http::ok(200, req.request_id, "Fine", {}));
              }});
  std::mutex mutex;
  std::vector<http::exchange_record> seen;
  http::server_options o;
  o.port = 0;
  o.on_exchange = [&](const http::exchange_record& r) {
    std::lock_guard lock(mutex);
    seen.push_back(r);
  };
  http::server server(o, routes);
  auto port = server.start();
  http_client client(port);

  auto boom = client.request("GET", "/boom", "", {{"X-Request-ID", "boom-1"}});
  check_envelope(boom, 500);
  EXPECT_EQ(boom.header("x-request-id"), "boom-1");
  EXPECT_EQ(boom.body.find("handler bug"), std::string::npos) << "internal detail leaked";
  auto bad = client.request("GET", "/bad-input");
  check_envelope(bad, 400);
  EXPECT_EQ(message_of(bad), "name: must not be empty");
  EXPECT_EQ(client.request("GET", "/fine").status, 200u);
  EXPECT_EQ(client.request("GET", "/boom").status, 500u);

  // The observer runs once the server has finished writing, which may be
  // just after the client has read the response.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  auto count = [&] {
    std::lock_guard lock(mutex);
    return seen.size();
  };
  while (count() < 4 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  server.stop();
  std::lock_guard lock(mutex);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].status, 500u);
  EXPECT_EQ(seen[0].route, "/boom");
  EXPECT_EQ(seen[0].request_id, "boom-1");
  EXPECT_EQ(seen[1].status, 400u);
  EXPECT_EQ(seen[2].status, 200u);
}

}  // namespace
}  // namespace hearth::testing
