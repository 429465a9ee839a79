#include "trace/trace.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "config/logging.hpp"

namespace hearth::trace {

namespace detail {
std::atomic<bool> enabled{false};
}

namespace {

std::atomic<double> g_ratio{1.0};
std::atomic<std::uint64_t> g_dropped{0}, g_exported{0}, g_failed{0};

std::uint64_t random_u64() {
  std::uint64_t v = 0;
  while (v == 0) randombytes_buf(&v, sizeof v);
  return v;
}

thread_local context t_current;

struct exporter {
  exporter_options options;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<span_data> queue;
  bool stopping = false;
  std::thread thread;

  void run() {
    std::unique_lock lock(mutex);
    for (;;) {
      cv.wait_for(lock, options.flush,
                  [&] { return stopping || queue.size() >= options.max_batch; });
      while (!queue.empty()) {
        std::vector<span_data> batch;
        const auto n = std::min(queue.size(), options.max_batch);
        batch.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        lock.unlock();
        send(batch);
        lock.lock();
        if (!stopping && queue.size() < options.max_batch) break;
      }
      if (stopping && queue.empty()) return;
    }
  }

  void send(const std::vector<span_data>& batch) {
    bool ok = false;
    try {
      ok = options.post && options.post(encode_otlp(batch, options.service_name, options.node_id));
    } catch (const std::exception& e) {
      log::debug("trace export failed: {}", e.what());
    }
    if (ok) {
      g_exported += batch.size();
    } else {
      ++g_failed;
      g_dropped += batch.size();
    }
  }

  void push(span_data&& d) {
    {
      std::lock_guard lock(mutex);
      if (stopping || queue.size() >= options.max_queue) {
        ++g_dropped;
        return;
      }
      queue.push_back(std::move(d));
      if (queue.size() < options.max_batch) return;
    }
    cv.notify_one();
  }
};

std::mutex g_lifecycle;
std::shared_ptr<exporter> g_exporter;  // read under g_exporter_mutex by span::end
std::mutex g_exporter_mutex;

std::shared_ptr<exporter> current_exporter() {
  std::lock_guard lock(g_exporter_mutex);
  return g_exporter;
}

bool lower_hex(std::string_view v) {
  for (char c : v)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::uint64_t hex_u64(std::string_view v) {
  std::uint64_t out = 0;
  for (char c : v) out = out * 16 + static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  return out;
}

}  // namespace

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string trace_id_hex(const context& c) {
  return fmt::format("{:016x}{:016x}", c.trace_hi, c.trace_lo);
}

std::string span_id_hex(std::uint64_t id) { return fmt::format("{:016x}", id); }

std::string traceparent(const context& c) {
  if (!c.valid()) return "";
  return fmt::format("00-{:016x}{:016x}-{:016x}-{:02x}", c.trace_hi, c.trace_lo, c.span_id,
                     c.flags);
}

std::optional<context> parse_traceparent(std::string_view tp) {
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return std::nullopt;
  auto version = tp.substr(0, 2), trace = tp.substr(3, 32), parent = tp.substr(36, 16),
       flags = tp.substr(53, 2);
  if (!lower_hex(version) || version == "ff" || !lower_hex(trace) || !lower_hex(parent) ||
      !lower_hex(flags))
    return std::nullopt;
  if (version == "00" && tp.size() != 55) return std::nullopt;
  if (version != "00" && tp.size() > 55 && tp[55] != '-') return std::nullopt;
  context c;
  c.trace_hi = hex_u64(trace.substr(0, 16));
  c.trace_lo = hex_u64(trace.substr(16));
  c.span_id = hex_u64(parent);
  c.flags = static_cast<std::uint8_t>(hex_u64(flags));
  if (!c.valid()) return std::nullopt;
  return c;
}

span::span(std::string_view name, kind k, const context& parent, std::int64_t start_ns) {
  if (!enabled()) return;
  if (parent.valid()) {
    ctx_ = parent;
  } else {
    ctx_.trace_hi = random_u64();
    ctx_.trace_lo = random_u64();
    const double ratio = g_ratio.load(std::memory_order_relaxed);
    bool sampled = ratio >= 1.0;
    if (!sampled && ratio > 0.0) sampled = randombytes_uniform(1'000'000) < ratio * 1'000'000;
    ctx_.flags = sampled ? 1 : 0;
  }
  ctx_.span_id = random_u64();
  if (!ctx_.sampled()) return;
  data_ = std::make_unique<span_data>();
  data_->ctx = ctx_;
  data_->parent_span_id = parent.valid() ? parent.span_id : 0;
  data_->name = std::string(name);
  data_->k = k;
  data_->start_ns = start_ns ? start_ns : now_ns();
}

void span::set(std::string key, value v) {
  if (data_) data_->attributes.push_back({std::move(key), std::move(v)});
}

void span::set_name(std::string name) {
  if (data_) data_->name = std::move(name);
}

void span::add_link(const context& c) {
  if (data_ && c.valid()) data_->links.push_back(c);
}

void span::set_error(std::string message) {
  if (!data_) return;
  data_->status = 2;
  data_->status_message = std::move(message);
}

void span::set_ok() {
  if (data_) data_->status = 1;
}

void span::end(std::int64_t end_ns) {
  if (!data_) return;
  data_->end_ns = end_ns ? end_ns : now_ns();
  auto d = std::move(data_);
  if (auto e = current_exporter())
    e->push(std::move(*d));
  else
    ++g_dropped;
}

context current() { return t_current; }

scope::scope(const context& c) : previous_(t_current) { t_current = c; }
scope::~scope() { t_current = previous_; }

void start(exporter_options options) {
  std::lock_guard life(g_lifecycle);
  if (current_exporter()) throw std::logic_error("trace::start: already started");
  if (sodium_init() < 0) throw std::runtime_error("trace::start: libsodium cannot initialise");
  options.max_batch = std::max<std::size_t>(options.max_batch, 1);
  options.flush = std::max(options.flush, std::chrono::milliseconds(1));
  g_ratio = std::clamp(options.sample_ratio, 0.0, 1.0);
  auto e = std::make_shared<exporter>();
  e->options = std::move(options);
  {
    std::lock_guard lock(g_exporter_mutex);
    g_exporter = e;
  }
  e->thread = std::thread([e] { e->run(); });
  detail::enabled = true;
}

void stop() {
  std::lock_guard life(g_lifecycle);
  auto e = current_exporter();
  if (!e) return;
  detail::enabled = false;
  {
    std::lock_guard lock(e->mutex);
    e->stopping = true;
  }
  e->cv.notify_one();
  if (e->thread.joinable()) e->thread.join();
  std::lock_guard lock(g_exporter_mutex);
  g_exporter.reset();
}

std::uint64_t dropped() { return g_dropped.load(); }
std::uint64_t exported() { return g_exported.load(); }
std::uint64_t failed_posts() { return g_failed.load(); }

namespace {

boost::json::object json_attribute(const attribute& a) {
  boost::json::object v;
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>)
          v["stringValue"] = x;
        else if constexpr (std::is_same_v<T, bool>)
          v["boolValue"] = x;
        else if constexpr (std::is_same_v<T, std::int64_t>)
          v["intValue"] = std::to_string(x);  // int64 is a JSON string in OTLP/JSON
        else
          v["doubleValue"] = x;
      },
      a.v);
  return {{"key", a.key}, {"value", std::move(v)}};
}

}  // namespace

std::string encode_otlp(const std::vector<span_data>& spans, const std::string& service_name,
                        const std::string& node_id) {
  boost::json::array out;
  out.reserve(spans.size());
  for (const auto& s : spans) {
    boost::json::object o;
    o["traceId"] = trace_id_hex(s.ctx);
    o["spanId"] = span_id_hex(s.ctx.span_id);
    if (s.parent_span_id) o["parentSpanId"] = span_id_hex(s.parent_span_id);
    o["flags"] = static_cast<std::uint32_t>(s.ctx.flags);
    o["name"] = s.name;
    o["kind"] = static_cast<int>(s.k);
    o["startTimeUnixNano"] = std::to_string(s.start_ns);
    o["endTimeUnixNano"] = std::to_string(s.end_ns);
    boost::json::array attrs;
    for (const auto& a : s.attributes) attrs.push_back(json_attribute(a));
    o["attributes"] = std::move(attrs);
    if (!s.links.empty()) {
      boost::json::array links;
      for (const auto& l : s.links)
        links.push_back({{"traceId", trace_id_hex(l)}, {"spanId", span_id_hex(l.span_id)}});
      o["links"] = std::move(links);
    }
    boost::json::object status{{"code", s.status}};
    if (!s.status_message.empty()) status["message"] = s.status_message;
    o["status"] = std::move(status);
    out.push_back(std::move(o));
  }
  boost::json::array resource_attrs;
  resource_attrs.push_back(json_attribute({"service.name", service_name}));
  if (!node_id.empty()) resource_attrs.push_back(json_attribute({"service.instance.id", node_id}));
  boost::json::object scope_spans{{"scope", {{"name", "hearth"}}}, {"spans", std::move(out)}};
  boost::json::object resource_spans{{"resource", {{"attributes", std::move(resource_attrs)}}},
                                     {"scopeSpans", boost::json::array{std::move(scope_spans)}}};
  boost::json::object root{{"resourceSpans", boost::json::array{std::move(resource_spans)}}};
  return boost::json::serialize(root);
}

}  // namespace hearth::trace
