#pragma once
// Inside the uptime monitor (apps/uptime/monitor.hpp): the status page's data
// (web/monitor.html at GET /monitor). Private to the hearth_uptime library.
//
//   GET /api/v1/monitor/status         every site's status (MonitorStatus)
//   GET /api/v1/monitor/status/events  SSE: `snapshot` (the same array) in the
//                                      response prelude, then a `check` event
//                                      (one site's status) per new check
//
// A check may be recorded on any node (the cron job runs on the leader,
// POST /check on the node asked), so each node's status_feed polls the
// database for new uptime_check rows while it has status streams, and sends
// each stream the rows it has not had (apps/uptime/status.cpp).

#include <boost/json/array.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/api.hpp"
#include "http/fanout.hpp"
#include "http/router.hpp"
#include "storage/pool.hpp"

namespace hearth::apps::uptime::detail {

/// The envelope's dataType of a site's status.
inline constexpr const char* kStatus = "MonitorStatus";

/// A check is "settled" once its transaction began this long ago: a check
/// with a smaller id that is not yet visible then is assumed rolled back
/// (a recording transaction lasts milliseconds). Checks newer than this
/// are read again by every poll (ids are taken in insert order but commit
/// in any order, so a smaller id can appear after a larger one).
inline constexpr std::chrono::seconds kSettle{30};

/// Every site's status and where a stream continues from it.
struct status_snapshot {
  /// MonitorStatus objects {id, url, state, lastChecked, latencyMs, status,
  /// error}, in the order the sites were added; the fields after `url` are
  /// the site's latest check's (null before its first check).
  boost::json::array sites;
  /// site id → the id (uptime_check.id) of the latest check included.
  std::unordered_map<std::string, std::int64_t> latest;
  /// Every check with id ≤ floor is settled (kSettle): in `sites` or older.
  std::int64_t floor = 0;
};

/// Reads the snapshot in one repeatable-read transaction (blocking: a pool
/// thread). Throws what libpqxx throws.
status_snapshot read_status(storage::connection& conn);

/// Sends each registered status stream the checks recorded after its
/// snapshot, on the node's HTTP fan-out (http::fanout_hub::send), from its
/// own thread: while at least one stream is registered it reads the checks
/// with id > the smallest stream floor every `poll` (storage::run_sync on the
/// pool), and gives each stream, as `check` events in id order, the checks
/// of each site newer than the last it had (none twice, none lost), then
/// raises its floor to the largest settled id read. No stream, no reads.
class status_feed : public std::enable_shared_from_this<status_feed> {
 public:
  /// `db` and `hub` must outlive the feed. Starts the (idle) poll thread.
  /// Make it with std::make_shared (open() hands out weak references).
  status_feed(storage::pool& db, http::fanout_hub& hub, std::chrono::milliseconds poll);
  /// Stops and joins the poll thread (a read under way finishes first).
  ~status_feed();
  status_feed(const status_feed&) = delete;
  status_feed& operator=(const status_feed&) = delete;

  /// Registers stream `s`, opened with `snap` (its `sites` are already in
  /// the stream's prelude). Returns what unregisters it (call it when the
  /// stream ends; calling it again is harmless). Thread-safe; never blocks
  /// on the database (an I/O thread calls it).
  std::function<void()> open(http::stream_ref s,
                             std::unordered_map<std::string, std::int64_t> latest,
                             std::int64_t floor);

  /// The registered streams (for tests and logs).
  std::size_t streams() const;

 private:
  struct stream {
    http::stream_ref ref;
    std::unordered_map<std::string, std::int64_t> latest;
    std::int64_t floor = 0;
  };
  struct check_row;
  void run();
  void dispatch(const std::vector<check_row>& rows, std::int64_t from, std::int64_t settled);

  storage::pool& db_;
  http::fanout_hub& hub_;
  const std::chrono::milliseconds poll_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool failing_ = false;  // the last read failed (logged once per outage)
  std::uint64_t next_key_ = 0;
  std::unordered_map<std::uint64_t, stream> streams_;
  std::thread thread_;
};

/// GET /api/v1/monitor/status and .../status/events, added to `group` (the
/// API group when uptimeStatusPublic, else the operator group). The routes
/// hold `feed` weakly: without it the events route answers 503.
void status_routes(http::route_group& group, api::services& s, std::weak_ptr<status_feed> feed);

}  // namespace hearth::apps::uptime::detail
