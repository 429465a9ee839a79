#pragma once
// Inside the notifications module (apps/notify/notify.hpp): its settings and
// state, shared by apps/notify/notify.cpp (the cron job and the e-mail
// subscription) and apps/notify/routes.cpp (the API under
// /api/v1/notifications). Private to the hearth_notify library.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "api/account_mail.hpp"
#include "apps/notify/mail.hpp"
#include "apps/notify/notify.hpp"
#include "storage/events.hpp"

namespace hearth::apps::notify::detail {

// The envelope's dataType of a notification and of the preferences.
inline constexpr const char* kNotification = "Notification";
inline constexpr const char* kPreferences = "NotificationPreferences";
// The SSE `table` of a notification's change events.
inline constexpr const char* kTable = "notification";

/// The module's configuration (notification keys of config/config.hpp).
struct settings {
  std::string schedule = config::defaults().notification_schedule;
  std::int64_t lead_minutes = config::defaults().calendar_reminder_lead_minutes;
  std::int64_t due_hour = config::defaults().task_due_hour_utc;
  bool email_default = false;             // notificationEmailDefault "on"
  std::optional<smtp_settings> smtp;      // nullopt: the e-mail channel is off
  engine::subscription_options delivery;  // of the "smtp" subscription

  /// Throws config::config_error for a bad notificationEmailDefault or SMTP
  /// setting (smtp_settings::from_config).
  static settings from_config(const config::config& cfg);
};

// The module's state: its settings, the topic, where change events go.
class notifier : public std::enable_shared_from_this<notifier> {
 public:
  ~notifier();

  /// The topic, the "smtp" subscription and the cron job notify.due; with
  /// a relay, checks it on a thread of its own (probe_relay, ≤ 5 s) and
  /// warns when it would not take mail.
  void declare(engine::registry& r, const config::config& cfg, storage::pool& db);

  /// The routes hand over where the node's change events go (the write
  /// path's sink, storage/events.hpp; it outlives the module's jobs): a
  /// tick's events are published at its commit. Before that, SSE streams
  /// get them from the outbox by the notifier's periodic sweep.
  void attach(const storage::event_sink& publish) { publish_.store(&publish); }

  const settings& options() const { return settings_; }

  /// The cron job: one transaction per tick (see notify.hpp). Returns the
  /// outcome text; throws when the term is stale or the database fails.
  std::string run_due(const engine::cron_tick& tick);

 private:
  /// The subscription: sends one notification's e-mail unless already
  /// sent; throws (retry) when the relay fails.
  void send_email(const engine::message_info& m, const email_message& e);

  /// The "smtp" subscription of "account.email" (api/account_mail.hpp: a
  /// password reset, an address to confirm, an invitation):
  /// issues the request's token (storage/account_tokens.hpp) and e-mails
  /// its link; nothing when the request is gone (used, expired, its
  /// account deleted). Throws (retry, with a new token) when the relay
  /// fails.
  void send_account_mail(const engine::message_info& m, const api::account_mail& a);

  storage::pool* db_ = nullptr;
  settings settings_;
  std::once_flag no_smtp_logged_;
  engine::topic<email_message> emails_;
  engine::topic<api::account_mail> account_mails_;
  std::atomic<const storage::event_sink*> publish_{nullptr};
  std::thread probe_;  // the start-up check of the relay
};

/// The API under /api/v1/notifications (session auth).
void routes(http::route_group& api, api::services& s, const settings& cfg);

}  // namespace hearth::apps::notify::detail
