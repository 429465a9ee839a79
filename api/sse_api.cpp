// GET /api/v1/sse: the caller's event stream over all their households
// (docs/architecture.md, "Stream start and resume"; SSE framing per the WHATWG HTML "server-sent
// events" section). Authentication by bearer key or the hearth_session cookie, since browsers'
// EventSource cannot set headers. A `Last-Event-ID` header (sent by EventSource on reconnect)
// resumes after that cursor.

#include <fmt/format.h>

#include "api/api.hpp"
#include "config/logging.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "storage/households.hpp"

namespace hearth::api {
namespace {

// The Retry-After of a refused stream: streams end when their tabs close.
constexpr std::int64_t kStreamRetryAfterMs = 5'000;

void stream(services& s, const http::request& req, http::responder respond) {
  std::optional<actors::cursor> resume;
  if (auto last = req.header("last-event-id"); !last.empty()) {
    resume = actors::decode_cursor(std::string(last));
    if (!resume) throw http::input_error("Last-Event-ID: not a cursor sent by this server");
  }
  run_authenticated(
      s, req, std::move(respond),
      [&s, resume, rid = req.request_id, ip = req.remote_addr](storage::connection& conn,
                                                               const storage::principal& who) {
        // maxStreamsPerAccount, maxStreamsPerAddress: the slot lives as long
        // as the stream (or this response, if the stream never opens).
        auto slot = s.guard.admit_stream(who.account_id, ip);
        if (!slot) {
          log::notice("security: stream refused: request {} account {} from {}: too many streams",
                      rid, who.account_id, ip);
          return auth_guard::too_many(rid, kStreamRetryAfterMs,
                                      "too many open streams for this account or address: close "
                                      "one, or retry later");
        }
        // Read the heads before the header goes out: every change the client
        // can cause or see after receiving the header is after them. The
        // account's revocations first: a membership change after this read
        // ends the stream as soon as it opens (actors/account_streams.hpp).
        const auto revocations = s.actors.account_revocations(who.account_id);
        auto start = actors::plan_stream_start(storage::household_heads(conn, who.account_id),
                                               resume, s.cfg.sse_replay_window);
        http::response r;
        r.sse = http::sse_response{
            start, http::sse::retry_frame(static_cast<unsigned>(s.cfg.sse_retry_ms)),
            [&s, start, slot = std::move(slot), account = who.account_id,
             revocations](http::stream_ref ref) {
              return [slot, close = s.actors.open_stream(ref, start, account, revocations)] {
                if (close) close();
              };
            }};
        return r;
      });
}

}  // namespace

void add_sse_routes(http::route_group& r, services& s) {
  r.add({"GET",
         "/api/v1/sse",
         [&s](const http::request& req, http::responder respond) {
           stream(s, req, std::move(respond));
         },
         {.produces = "text/event-stream",
          .doc = {.summary = "The caller's live change events (Server-Sent Events; resume with "
                             "Last-Event-ID)",
                  .tag = "events"}}});
}

}  // namespace hearth::api
