// GET /api/v1/changes: what changed since a cursor (the change feed an
// offline client catches up with), and
// GET /api/v1/sse: the caller's event stream over all their households
// (docs/architecture.md, "Stream start and resume"; SSE framing per the WHATWG HTML "server-sent
// events" section). Authentication by bearer key or the hearth_session cookie, since browsers'
// EventSource cannot set headers. A `Last-Event-ID` header (sent by EventSource on reconnect)
// resumes after that cursor.

#include <fmt/format.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <map>

#include "api/api.hpp"
#include "config/logging.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "storage/change_feed.hpp"
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

// Events read per request at most: the answer says `more` beyond it.
constexpr std::int64_t kFeedLimit = 1000;

// GET /api/v1/changes[?cursor=<cursor>]: the caller's changes after the
// cursor (an SSE event id, or the `cursor` of an earlier answer; none: only
// a cursor at every household's head, and every household to resync). Each
// changed row once, with its last operation and, for a create or update,
// the row as it is now (storage/change_feed.hpp). The envelope adds
// `cursor` (where to read next), `resync` (households to read whole) and
// `more`.
void changes(services& s, const http::request& req, http::responder respond) {
  std::map<std::string, std::int64_t> since;
  if (auto it = req.query.find("cursor"); it != req.query.end()) {
    auto decoded = actors::decode_cursor(it->second);
    if (!decoded) throw http::input_error("cursor: not a cursor sent by this server");
    since = std::move(*decoded);
  }
  run_authenticated(
      s, req, std::move(respond),
      [since, rid = req.request_id](storage::connection& conn, const storage::principal& who) {
        auto feed = storage::read_changes(conn, who.account_id, since, kFeedLimit);
        std::string values = "[";
        for (const auto& c : feed.changes) {
          if (values.size() > 1) values += ',';
          boost::json::object o{{"authHouseholdID", c.household_id},
                                {"table", c.table},
                                {"id", c.row_id},
                                {"operation", c.operation},
                                {"seq", c.seq}};
          auto head = boost::json::serialize(o);
          head.pop_back();  // the row is appended as it was serialised once
          values += head;
          values += ",\"row\":";
          values += c.row_json ? *c.row_json : "null";
          values += '}';
        }
        values += ']';
        boost::json::array resync;
        for (const auto& h : feed.resync) resync.emplace_back(h);
        const auto extra = fmt::format(
            R"(,"cursor":{},"resync":{},"more":{})",
            boost::json::serialize(boost::json::value(actors::encode_cursor(feed.cursor))),
            boost::json::serialize(resync), feed.more ? "true" : "false");
        return http::ok_serialized(200, rid, "Change", feed.changes.size(), values, extra);
      });
}

}  // namespace

void add_sse_routes(http::route_group& r, services& s) {
  r.add({"GET",
         "/api/v1/changes",
         [&s](const http::request& req, http::responder respond) {
           changes(s, req, std::move(respond));
         },
         {.doc = {.summary = "What changed in the caller's households since a cursor (an SSE "
                             "event id or an earlier answer's cursor), each row once as it is "
                             "now; the envelope adds cursor, resync and more",
                  .tag = "events",
                  .data_type = "Change",
                  .data_schema = R"({"type":"object","properties":{
                    "authHouseholdID":{"type":"string","format":"uuid"},
                    "table":{"type":"string"},"id":{"type":"string","format":"uuid"},
                    "operation":{"type":"string","enum":["create","update","delete"]},
                    "seq":{"type":"integer"},
                    "row":{"type":"object","nullable":true}}})",
                  .query = {{"cursor",
                             "where to start: an SSE event id or an earlier "
                             "answer's cursor (none: the heads)"}}}}});
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
