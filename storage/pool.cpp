#include "storage/pool.hpp"

#include <libpq-fe.h>
#include <pthread.h>

#include <set>

#include "config/log_limiter.hpp"
#include "config/logging.hpp"
#include "trace/trace.hpp"

namespace hearth::storage {

std::string with_network_timeouts(const std::string& url) {
  static constexpr std::pair<const char*, const char*> kDefaults[] = {
      {"connect_timeout", "5"},     {"keepalives", "1"},       {"keepalives_idle", "5"},
      {"keepalives_interval", "2"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "10000"}};
  // What the URL sets itself, as libpq reads it (no defaults, no environment).
  std::set<std::string> given;
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (!options) {  // not a connection string: libpq will say why when it is used
    if (error) PQfreemem(error);
    return url;
  }
  for (auto* o = options; o->keyword; ++o)
    if (o->val && *o->val) given.insert(o->keyword);
  PQconninfoFree(options);
  const bool uri = url.starts_with("postgresql://") || url.starts_with("postgres://");
  std::string out = url;
  for (const auto& [key, value] : kDefaults) {
    if (given.count(key)) continue;  // the URL's own
    if (uri) {
      const auto q = out.find('?');
      out += q == std::string::npos ? "?" : (out.back() == '?' || out.back() == '&' ? "" : "&");
    } else if (!out.empty()) {
      out += ' ';
    }
    out += std::string(key) + "=" + value;
  }
  return out;
}

pool::pool(std::string url, int size) : url_(std::move(url)) {
  // Open the first connection here so a wrong URL fails start-up loudly.
  pqxx::connection probe{url_};
  probe.disconnect();
  for (int i = 0; i < size; ++i) threads_.emplace_back([this, i] { run(i); });
}

pool::~pool() { stop(); }

std::unique_ptr<pool> pool::manual(std::string url) {
  auto p = std::make_unique<pool>(std::move(url), 0);
  p->manual_conn_ = std::make_unique<pqxx::lazyconnection>(p->url_);
  return p;
}

bool pool::next(job& j) {
  std::lock_guard lock(mutex_);
  if (jobs_.empty()) return false;
  j = std::move(jobs_.front().run);
  auto waited = std::chrono::steady_clock::now() - jobs_.front().queued_at;
  jobs_.pop_front();
  wait_ns_total_ += static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count());
  ++jobs_total_;
  return true;
}

std::size_t pool::run_pending(std::size_t max) {
  if (!manual_conn_) throw std::logic_error("run_pending() is for manual pools");
  std::size_t ran = 0;
  job j;
  while (ran < max && next(j)) {
    ++ran;
    if (const auto g = generation_.load(); g != manual_generation_) {
      manual_generation_ = g;
      manual_conn_->disconnect();  // reopened by the job's first statement
    }
    try {
      j(*manual_conn_);
    } catch (const std::exception& e) {
      log::error("db pool[manual]: job failed: {}", e.what());
    }
  }
  return ran;
}

bool pool::submit(job j) {
  if (trace::enabled()) {
    // A job submitted inside a span (trace::scope: a request's handler, a
    // pool job) runs as its child "pool.job", from submission (queue wait
    // included) to its end, and is the current span while it runs.
    if (auto parent = trace::current(); parent.valid()) {
      j = [parent, queued = trace::now_ns(), inner = std::move(j)](connection& conn) {
        trace::span span("pool.job", trace::kind::internal, parent, queued);
        span.set("hearth.queue_wait_us", (trace::now_ns() - queued) / 1000);
        trace::scope in(span.ctx());
        inner(conn);
      };
    }
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || jobs_.size() >= max_queue) return false;
    jobs_.push_back({std::move(j), std::chrono::steady_clock::now()});
  }
  cv_.notify_one();
  return true;
}

std::size_t pool::queued() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

void pool::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void pool::run(int index) {
  pthread_setname_np(pthread_self(), "hearth.db");  // per-thread CPU in top -H, /proc
  pqxx::lazyconnection conn{url_};
  std::uint64_t generation = generation_.load();
  for (;;) {
    job j;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping and drained
    }
    if (!next(j)) continue;  // another thread took it
    ++busy_;
    if (const auto g = generation_.load(); g != generation) {
      generation = g;
      conn.disconnect();  // opened before a restart: reopened by the job's first statement
    }
    // A failed job is never retried here: its commit may have reached the
    // server before the connection broke (in doubt).
    try {
      j(conn);
    } catch (const std::exception& e) {
      log::error_once("pool.job", "db pool: job failed: " + log::first_line(e.what()),
                      fmt::format("db pool[{}]", index));
    }
    --busy_;
  }
}

pool_stats pool::stats() const {
  pool_stats st;
  st.size = threads_.size();
  st.busy = busy_.load();
  st.queued = queued();
  st.jobs_total = jobs_total_.load();
  st.wait_seconds_total = static_cast<double>(wait_ns_total_.load()) / 1e9;
  return st;
}

}  // namespace hearth::storage
