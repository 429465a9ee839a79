// The notifications API under /api/v1/notifications (session auth): the
// caller's notifications, newest first; dismissing one; the caller's
// channels. A notification is only ever its recipient's: any other id is 404.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <charconv>
#include <optional>
#include <pqxx/pqxx>
#include <utility>

#include "actors/system.hpp"
#include "apps/notify/notify_impl.hpp"
#include "http/envelope.hpp"
#include "http/json_input.hpp"
#include "storage/errors.hpp"
#include "storage/events.hpp"

namespace hearth::apps::notify::detail {
namespace {

namespace json = boost::json;

constexpr int kDefaultLimit = 100;
constexpr int kMaxLimit = 500;

#define HEARTH_NOTIFICATION_COLUMNS                                                 \
  "id::text, auth_account_id::text, auth_household_id::text, kind, source_table, "  \
  "source_id::text, hearth_ts(occurrence), title, hearth_ts(dismissed_at), email, " \
  "hearth_ts(emailed_at), hearth_ts(created), hearth_ts(updated)"

// $2: NULL = all, true = dismissed only, false = not dismissed only.
constexpr const char* kList =
    "SELECT " HEARTH_NOTIFICATION_COLUMNS
    " FROM notification WHERE auth_account_id = $1 AND in_app "
    "AND ($2::boolean IS NULL OR (dismissed_at IS NOT NULL) = $2::boolean) "
    "ORDER BY created DESC, id DESC LIMIT $3";
constexpr const char* kLockOne =
    "SELECT dismissed_at IS NOT NULL, auth_household_id::text FROM notification "
    "WHERE id = $1 AND auth_account_id = $2 AND in_app FOR UPDATE";
constexpr const char* kSelectOne =
    "SELECT " HEARTH_NOTIFICATION_COLUMNS " FROM notification WHERE id = $1";
// `updated` always grows, as for household rows (docs/api.md).
constexpr const char* kDismiss =
    "UPDATE notification SET dismissed_at = now(), "
    "  updated = greatest(now(), updated + interval '1 microsecond') "
    "WHERE id = $1 RETURNING " HEARTH_NOTIFICATION_COLUMNS;
constexpr const char* kSelectPreferences =
    "SELECT in_app, email FROM notification_preference WHERE auth_account_id = $1";
constexpr const char* kUpsertPreferences =
    "INSERT INTO notification_preference AS p (auth_account_id, in_app, email) "
    "VALUES ($1, $2::boolean, $3::boolean) "
    "ON CONFLICT (auth_account_id) DO UPDATE SET in_app = coalesce($2::boolean, p.in_app), "
    "  email = coalesce($3::boolean, p.email), updated = now() "
    "RETURNING in_app, email";

#undef HEARTH_NOTIFICATION_COLUMNS

constexpr const char* kNotificationSchema = R"json({"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},
  "authAccountID":{"type":"string","format":"uuid","description":"the recipient (the caller)"},
  "authHouseholdID":{"type":"string","format":"uuid"},
  "kind":{"type":"string","enum":["task.due","event.starting"]},
  "sourceTable":{"type":"string","enum":["plan_task","calendar_event"]},
  "sourceID":{"type":"string","format":"uuid","description":"the PlanTask or CalendarEvent"},
  "occurrence":{"type":"string","format":"date-time",
    "description":"the task's due moment or the event's start"},
  "title":{"type":"string","description":"the task's or event's name when notified"},
  "dismissed":{"type":"boolean"},
  "dismissedAt":{"type":"string","format":"date-time","nullable":true},
  "email":{"type":"boolean","description":"an e-mail goes (or went) out for it too"},
  "emailedAt":{"type":"string","format":"date-time","nullable":true,
    "description":"when the SMTP relay accepted the e-mail"},
  "created":{"type":"string","format":"date-time"},
  "updated":{"type":"string","format":"date-time"}}})json";
constexpr const char* kPreferencesSchema = R"json({"type":"object","properties":{
  "inApp":{"type":"boolean","description":"notification rows and their SSE events (default true)"},
  "email":{"type":"boolean",
    "description":"e-mails to the account's address (default: the operator's)"},
  "emailAvailable":{"type":"boolean",
    "description":"whether this node has an SMTP relay (smtpURL); false: no e-mail is sent"}}})json";
constexpr const char* kPreferencesBody = R"json({"type":"object","additionalProperties":false,
  "minProperties":1,"properties":{"inApp":{"type":"boolean"},"email":{"type":"boolean"}}})json";

json::value nullable(const pqxx::field& f) {
  return f.is_null() ? json::value(nullptr) : json::value(f.as<std::string>());
}

json::object notification_json(const pqxx::row& r) {
  return {{"id", r[0].as<std::string>()},
          {"authAccountID", r[1].as<std::string>()},
          {"authHouseholdID", r[2].as<std::string>()},
          {"kind", r[3].as<std::string>()},
          {"sourceTable", r[4].as<std::string>()},
          {"sourceID", r[5].as<std::string>()},
          {"occurrence", r[6].as<std::string>()},
          {"title", r[7].as<std::string>()},
          {"dismissed", !r[8].is_null()},
          {"dismissedAt", nullable(r[8])},
          {"email", r[9].as<bool>()},
          {"emailedAt", nullable(r[10])},
          {"created", r[11].as<std::string>()},
          {"updated", r[12].as<std::string>()}};
}

json::object preferences_json(bool in_app, bool email, bool available) {
  return {{"inApp", in_app}, {"email", email}, {"emailAvailable", available}};
}

std::optional<bool> dismissed_filter(const http::request& req) {
  auto it = req.query.find("dismissed");
  if (it == req.query.end()) return std::nullopt;
  if (it->second == "true") return true;
  if (it->second == "false") return false;
  throw http::input_error("dismissed: must be true or false");
}

int limit_of(const http::request& req) {
  auto it = req.query.find("limit");
  if (it == req.query.end()) return kDefaultLimit;
  int v = 0;
  const auto& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < 1 || v > kMaxLimit)
    throw http::input_error("limit: must be an integer from 1 to 500");
  return v;
}

// GET /api/v1/notifications: the caller's, newest first.
http::route list(api::services& s) {
  return {"GET",
          "/api/v1/notifications",
          [&s](const http::request& req, http::responder respond) {
            auto dismissed = dismissed_filter(req);
            auto limit = limit_of(req);
            api::run_authenticated(
                s, req, std::move(respond),
                [dismissed, limit, rid = req.request_id](storage::connection& conn,
                                                         const storage::principal& who) {
                  pqxx::read_transaction tx(conn);
                  json::array out;
                  for (const auto& r : tx.exec_params(kList, who.account_id, dismissed, limit))
                    out.push_back(notification_json(r));
                  return http::ok(200, rid, kNotification, std::move(out));
                });
          },
          {.doc = {.summary = "The caller's in-app notifications, newest first",
                   .tag = "notifications",
                   .data_type = kNotification,
                   .data_schema = kNotificationSchema,
                   .query = {{"dismissed", "true: only dismissed ones; false: only the others"},
                             {"limit", "at most this many (1-500, default 100)"}}}}};
}

// POST /api/v1/notifications/{id}/dismiss: the caller's notification, once.
http::route dismiss(api::services& s) {
  return {"POST",
          "/api/v1/notifications/{id}/dismiss",
          [&s](const http::request& req, http::responder respond) {
            auto id = req.params.at("id");
            if (!http::is_uuid(id))
              return respond(http::error(404, req.request_id, "Notification not found"));
            api::run_authenticated(
                s, req, std::move(respond),
                [&s, id, rid = req.request_id](storage::connection& conn,
                                               const storage::principal& who) {
                  storage::change_transaction change(conn, s.writes.publisher());
                  auto& tx = change.tx();
                  auto locked = tx.exec_params(kLockOne, id, who.account_id);
                  if (locked.empty())
                    throw storage::domain_error(storage::errc::not_found, "Notification not found");
                  if (locked[0][0].as<bool>()) {  // dismissed before: nothing changes
                    auto row = tx.exec_params1(kSelectOne, id);
                    change.commit();
                    return http::ok(200, rid, kNotification, {notification_json(row)});
                  }
                  auto household = locked[0][1].as<std::string>();
                  auto row = tx.exec_params1(kDismiss, id);
                  change.record(household, kTable, id, "update", row[12].as<std::string>());
                  change.commit();  // publishes the update
                  return http::ok(200, rid, kNotification, {notification_json(row)});
                });
          },
          {.doc = {.summary = "Dismiss one of the caller's notifications (again: no change)",
                   .tag = "notifications",
                   .data_type = kNotification,
                   .data_schema = kNotificationSchema}}};
}

// GET /api/v1/notifications/preferences: the caller's channels.
http::route get_preferences(api::services& s, const settings& cfg) {
  return {
      "GET",
      "/api/v1/notifications/preferences",
      [&s, email_default = cfg.email_default, available = cfg.smtp.has_value()](
          const http::request& req, http::responder respond) {
        api::run_authenticated(
            s, req, std::move(respond),
            [=, rid = req.request_id](storage::connection& conn, const storage::principal& who) {
              pqxx::read_transaction tx(conn);
              bool in_app = true, email = email_default;
              auto r = tx.exec_params(kSelectPreferences, who.account_id);
              if (!r.empty()) {
                if (!r[0][0].is_null()) in_app = r[0][0].as<bool>();
                if (!r[0][1].is_null()) email = r[0][1].as<bool>();
              }
              return http::ok(200, rid, kPreferences, {preferences_json(in_app, email, available)});
            });
      },
      {.doc = {.summary = "The caller's notification channels",
               .tag = "notifications",
               .data_type = kPreferences,
               .data_schema = kPreferencesSchema}}};
}

// PUT /api/v1/notifications/preferences: change one channel or both.
http::route put_preferences(api::services& s, const settings& cfg) {
  return {
      "PUT",
      "/api/v1/notifications/preferences",
      [&s, email_default = cfg.email_default, available = cfg.smtp.has_value()](
          const http::request& req, http::responder respond) {
        http::json_object_reader in(req.body);
        auto in_app = in.boolean("inApp", false);
        auto email = in.boolean("email", false);
        in.reject_unknown();
        if (!in_app && !email) throw http::input_error("request body: no field to update");
        api::run_authenticated(
            s, req, std::move(respond),
            [=, rid = req.request_id](storage::connection& conn, const storage::principal& who) {
              pqxx::work tx(conn);
              auto r = tx.exec_params1(kUpsertPreferences, who.account_id, in_app, email);
              tx.commit();
              return http::ok(
                  200, rid, kPreferences,
                  {preferences_json(r[0].is_null() ? true : r[0].as<bool>(),
                                    r[1].is_null() ? email_default : r[1].as<bool>(), available)});
            });
      },
      {.json_body = true,
       .doc = {.summary = "Choose the caller's notification channels",
               .tag = "notifications",
               .request_schema = kPreferencesBody,
               .data_type = kPreferences,
               .data_schema = kPreferencesSchema}}};
}

}  // namespace

void routes(http::route_group& api, api::services& s, const settings& cfg) {
  api.add(list(s));
  api.add(get_preferences(s, cfg));
  api.add(put_preferences(s, cfg));
  api.add(dismiss(s));
}

}  // namespace hearth::apps::notify::detail
