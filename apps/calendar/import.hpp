#pragma once
// Inside the calendar module (apps/calendar/calendar.hpp): the import of
// subscribed calendars, shared by apps/calendar/import.cpp (fetch, apply,
// the periodic refresh) and apps/calendar/routes.cpp (the feed and
// subscription routes, the module). Private to the hearth_calendar library.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "apps/calendar/calendar.hpp"

namespace hearth::apps::calendar::detail {

/// ASCII lower case.
std::string lower(std::string s);

/// A subscribed URL as fetched: webcal:// is https:// (the scheme calendar
/// links use to open a calendar application).
std::string fetch_url(std::string url);

/// What one import changed (its change events were published at its commit).
struct import_result {
  std::size_t created = 0, updated = 0, deleted = 0;
};

// The module's state: shared by its declarations (the import subscription,
// the cron job) and its routes.
class module_state : public std::enable_shared_from_this<module_state> {
 public:
  /// The topic "calendar.subscription-added" with its "import"
  /// subscription, and the cron job "calendar.refresh-subscriptions".
  void declare(engine::registry& r, const config::config& cfg, storage::pool& db);

  void set_services(api::services& s) { services_.store(&s); }
  const engine::topic<subscription_added>& added() const { return added_; }

 private:
  // The subscription's URL, or "" when it is gone.
  std::string url_of(const std::string& id);

  // Fetches, parses and applies one subscription (on a handler thread: it
  // blocks on the network). Failures are recorded as its lastError; the
  // imported events stay as they were. Returns the outcome, or nullopt on
  // failure (with `error` set).
  std::optional<import_result> refresh(const std::string& id, const std::string& url,
                                       std::string* error = nullptr);

  std::string refresh_all();

  storage::pool* db_ = nullptr;
  std::chrono::milliseconds fetch_timeout_{10'000};
  engine::topic<subscription_added> added_;
  std::atomic<api::services*> services_{nullptr};
};

}  // namespace hearth::apps::calendar::detail
