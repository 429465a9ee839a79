// The operator group's admin routes (Basic auth): GET /api/v1/admin/cron,
// every cron job with its schedule, next run and last run (from
// scheduler_run); and the dead letters (engine/dead_letters.hpp): GET and
// DELETE /api/v1/admin/dead-letters, POST /api/v1/admin/dead-letters/retry.

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <charconv>
#include <chrono>
#include <ctime>
#include <optional>

#include "api/api.hpp"
#include "config/logging.hpp"
#include "engine/dead_letters.hpp"
#include "engine/pubsub.hpp"
#include "engine/store.hpp"
#include "http/envelope.hpp"

namespace hearth::api {
namespace {

// UTC (fmt 9 formats a time_point in local time; gmtime is explicit).
std::string rfc3339(std::int64_t seconds) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(static_cast<std::time_t>(seconds)));
}

constexpr const char* kCronSchema = R"({"type":"object","properties":{
  "name":{"type":"string"},"schedule":{"type":"string"},
  "nextRun":{"type":"string","format":"date-time"},
  "lastRun":{"type":"object","nullable":true,"properties":{
    "tick":{"type":"string","format":"date-time"},"nodeID":{"type":"string"},
    "startedAt":{"type":"string","format":"date-time"},
    "finishedAt":{"type":"string","format":"date-time","nullable":true},
    "durationMs":{"type":"integer","nullable":true},"outcome":{"type":"string","nullable":true}}}}})";

constexpr const char* kDeadLetterSchema = R"({"type":"object","properties":{
  "subscription":{"type":"string"},"topic":{"type":"string"},
  "messageID":{"type":"integer","description":"the id it had when it failed"},
  "payload":{"description":"the message as published, JSON"},
  "attempts":{"type":"integer"},"lastError":{"type":"string"},
  "failedAt":{"type":"string","format":"date-time"}}})";
constexpr const char* kDeadLetterCountSchema = R"({"type":"object","properties":{
  "topic":{"type":"string"},"subscription":{"type":"string"},"count":{"type":"integer"},
  "oldestFailedAt":{"type":"string","format":"date-time"},
  "newestFailedAt":{"type":"string","format":"date-time"}}})";
constexpr const char* kDeadLetterActionSchema = R"({"type":"object","properties":{
  "retried":{"type":"integer"},"unknownSubscription":{"type":"integer"},
  "discarded":{"type":"integer"}}})";

const std::vector<std::pair<std::string, std::string>> kDeadLetterQuery = {
    {"topic", "only this topic's dead letters"},
    {"subscription", "only this subscription's"},
    {"messageID", "only the one with this message id"}};

// The filter of a dead-letter route from its query, or a 400 sent.
std::optional<engine::dead_letter_filter> dead_letter_filter(const http::request& req,
                                                             const http::responder& respond) {
  engine::dead_letter_filter f;
  for (const auto& [name, value] : req.query) {
    if (name == "topic" && value.size() <= 200) {
      f.topic = value;
    } else if (name == "subscription" && value.size() <= 200) {
      f.subscription = value;
    } else if (name == "messageID") {
      std::int64_t id = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), id);
      if (ec != std::errc() || end != value.data() + value.size() || id <= 0) {
        respond(http::error(400, req.request_id, "messageID: a positive integer"));
        return std::nullopt;
      }
      f.message_id = id;
    } else if (name == "topic" || name == "subscription") {
      respond(http::error(400, req.request_id, name + ": at most 200 bytes"));
      return std::nullopt;
    } else {
      respond(http::error(400, req.request_id,
                          "unknown query parameter (topic, subscription, messageID): " + name));
      return std::nullopt;
    }
  }
  return f;
}

boost::json::object to_json(const engine::dead_letter& d) {
  boost::json::object o{{"subscription", d.subscription}, {"topic", d.topic},
                        {"messageID", d.message_id},      {"attempts", d.attempts},
                        {"lastError", d.last_error},      {"failedAt", d.failed_at}};
  boost::system::error_code ec;
  auto payload = boost::json::parse(d.payload, ec);  // jsonb text: always JSON
  o["payload"] = ec ? boost::json::value(d.payload) : std::move(payload);
  return o;
}

void add_dead_letter_routes(http::route_group& r, services& s) {
  http::route_options list;
  list.doc = {.summary =
                  "Dead letters: Pub/Sub messages a subscription gave up on, oldest first "
                  "(at most 1 000; the message gives the total)",
              .tag = "Admin",
              .auth = "operator",
              .data_type = "DeadLetter",
              .data_schema = kDeadLetterSchema,
              .query = kDeadLetterQuery};
  r.add({"GET", "/api/v1/admin/dead-letters",
         [&s](const http::request& req, http::responder respond) {
           auto f = dead_letter_filter(req, respond);
           if (!f) return;
           run_db(s, req, std::move(respond),
                  [f = *f, rid = req.request_id](storage::connection& c) {
                    std::int64_t total = 0;
                    boost::json::array out;
                    for (const auto& d : engine::list_dead_letters(c, f, total))
                      out.push_back(to_json(d));
                    return http::envelope(200, rid, "DeadLetter", std::move(out),
                                          fmt::format("{} dead letters match", total));
                  });
         },
         list});
  http::route_options summary;
  summary.doc = {.summary = "How many dead letters each subscription of each topic holds",
                 .tag = "Admin",
                 .auth = "operator",
                 .data_type = "DeadLetterCount",
                 .data_schema = kDeadLetterCountSchema};
  r.add({"GET", "/api/v1/admin/dead-letters/counts",
         [&s](const http::request& req, http::responder respond) {
           run_db(s, req, std::move(respond), [rid = req.request_id](storage::connection& c) {
             boost::json::array out;
             for (const auto& n : engine::count_dead_letters(c))
               out.push_back(boost::json::object{{"topic", n.topic},
                                                 {"subscription", n.subscription},
                                                 {"count", n.count},
                                                 {"oldestFailedAt", n.oldest},
                                                 {"newestFailedAt", n.newest}});
             return http::ok(200, rid, "DeadLetterCount", std::move(out));
           });
         },
         summary});
  http::route_options retry;
  retry.doc = {.summary =
                   "Sends the matching dead letters (at most 1 000 per call) back through "
                   "normal delivery as new messages, to their own subscription only",
               .tag = "Admin",
               .auth = "operator",
               .data_type = "DeadLetterAction",
               .data_schema = kDeadLetterActionSchema,
               .query = kDeadLetterQuery};
  r.add({"POST", "/api/v1/admin/dead-letters/retry",
         [&s](const http::request& req, http::responder respond) {
           auto f = dead_letter_filter(req, respond);
           if (!f) return;
           std::vector<std::string> declared;
           for (const auto& sub : s.registry.subscriptions()) declared.push_back(sub.name);
           run_db(s, req, std::move(respond),
                  [&s, f = *f, declared, rid = req.request_id,
                   ip = req.remote_addr](storage::connection& c) {
                    auto out = engine::retry_dead_letters(c, f, declared);
                    if (out.retried > 0) s.registry.published()();  // wake this node's delivery
                    log::notice(
                        "operator: request {} from {}: {} dead letters sent again ({} of "
                        "undeclared subscriptions left)",
                        rid, ip, out.retried, out.unknown);
                    return http::ok(200, rid, "DeadLetterAction",
                                    {boost::json::object{{"retried", out.retried},
                                                         {"unknownSubscription", out.unknown}}});
                  });
         },
         retry});
  http::route_options discard;
  discard.doc = {.summary = "Deletes the matching dead letters (at most 1 000 per call)",
                 .tag = "Admin",
                 .auth = "operator",
                 .data_type = "DeadLetterAction",
                 .data_schema = kDeadLetterActionSchema,
                 .query = kDeadLetterQuery};
  r.add({"DELETE", "/api/v1/admin/dead-letters",
         [&s](const http::request& req, http::responder respond) {
           auto f = dead_letter_filter(req, respond);
           if (!f) return;
           run_db(s, req, std::move(respond),
                  [f = *f, rid = req.request_id, ip = req.remote_addr](storage::connection& c) {
                    auto n = engine::discard_dead_letters(c, f);
                    log::notice("operator: request {} from {}: {} dead letters discarded", rid, ip,
                                n);
                    return http::ok(200, rid, "DeadLetterAction",
                                    {boost::json::object{{"discarded", n}}});
                  });
         },
         discard});
}

}  // namespace

void add_admin_routes(http::route_group& r, services& s) {
  add_dead_letter_routes(r, s);
  http::route_options o;
  o.doc.summary = "The cron jobs with their schedule, next run and last run (UTC)";
  o.doc.tag = "Admin";
  o.doc.auth = "operator";
  o.doc.data_type = "CronJob";
  o.doc.data_schema = kCronSchema;
  r.add({"GET", "/api/v1/admin/cron",
         [&s](const http::request& req, http::responder respond) {
           run_db(s, req, std::move(respond), [&s, rid = req.request_id](storage::connection& c) {
             auto now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
             boost::json::array out;
             for (const auto& job : s.registry.cron_jobs()) {
               boost::json::object o{{"name", job.name},
                                     {"schedule", job.schedule.text()},
                                     {"nextRun", rfc3339(job.schedule.next(now))}};
               auto last = engine::last_run(c, "cron:" + job.name);
               if (last.tick < 0) {
                 o["lastRun"] = nullptr;
               } else {
                 boost::json::object l{{"tick", rfc3339(last.tick)},
                                       {"nodeID", last.node_id},
                                       {"startedAt", last.started_at}};
                 l["finishedAt"] = last.finished_at.empty() ? boost::json::value(nullptr)
                                                            : boost::json::value(last.finished_at);
                 l["durationMs"] = last.duration_ms < 0 ? boost::json::value(nullptr)
                                                        : boost::json::value(last.duration_ms);
                 l["outcome"] = last.finished_at.empty() ? boost::json::value(nullptr)
                                                         : boost::json::value(last.outcome);
                 o["lastRun"] = std::move(l);
               }
               out.push_back(std::move(o));
             }
             return http::ok(200, rid, "CronJob", std::move(out));
           });
         },
         o});
}

}  // namespace hearth::api
