// GET /api/v1/admin/cron: every cron job with its schedule, next run and
// last run (from scheduler_run), for operators (Basic auth group).

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <ctime>

#include "api/api.hpp"
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

}  // namespace

void add_admin_routes(http::route_group& r, services& s) {
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
