#pragma once
// Tracing: W3C trace context (https://www.w3.org/TR/trace-context/) and
// OpenTelemetry spans, exported in batches as OTLP/HTTP JSON
// (opentelemetry-proto, "JSON Protobuf Encoding": ids in lower-case hex,
// times as decimal strings of Unix nanoseconds) by a background thread.
//
// Its own library (hearth_trace, right after config/) because every layer
// makes spans: the server (http/), pool jobs and the group commit
// (storage/), the fan-out (actors/), Pub/Sub deliveries (engine/) and the
// outgoing client (http/client.*). It knows no transport: the process hands
// start() a `post` function (app/serve.cpp uses http::fetch), so this
// library stays below storage/ and http/.
//
// Off (start() not called, or no endpoint): enabled() is one relaxed atomic
// load, a span is an empty object, nothing allocates.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hearth::trace {

/// A span's identity as carried between threads, actors and nodes: the
/// 128-bit trace id (two halves), the 64-bit span id and the W3C flags
/// (bit 0: sampled). All zero = no context.
struct context {
  std::uint64_t trace_hi = 0;
  std::uint64_t trace_lo = 0;
  std::uint64_t span_id = 0;
  std::uint8_t flags = 0;

  bool valid() const { return (trace_hi | trace_lo) != 0 && span_id != 0; }
  bool sampled() const { return (flags & 1) != 0; }
  friend bool operator==(const context&, const context&) = default;
};

/// The 32 lower-case hex digits of the trace id.
std::string trace_id_hex(const context& c);
/// The 16 lower-case hex digits of a span id.
std::string span_id_hex(std::uint64_t id);
/// "00-<trace id>-<span id>-<flags>" (W3C trace-context §3.2), "" when !c.valid().
std::string traceparent(const context& c);
/// The context of a traceparent header (version 00, or a later version's
/// first four fields; all-zero ids, version ff, upper-case hex and a
/// malformed value are refused: nullopt).
std::optional<context> parse_traceparent(std::string_view header);

/// OTLP SpanKind values.
enum class kind : int { internal = 1, server = 2, client = 3, producer = 4, consumer = 5 };

using value = std::variant<std::string, std::int64_t, bool, double>;
struct attribute {
  std::string key;
  value v;
};

/// A finished span as exported.
struct span_data {
  context ctx;
  std::uint64_t parent_span_id = 0;  // 0: a root span
  std::string name;
  kind k = kind::internal;
  std::int64_t start_ns = 0;  // Unix time, nanoseconds (system clock)
  std::int64_t end_ns = 0;
  std::vector<attribute> attributes;
  std::vector<context> links;
  int status = 0;  // OTLP StatusCode: 0 unset, 1 ok, 2 error
  std::string status_message;
};

namespace detail {
extern std::atomic<bool> enabled;
}

/// True while an exporter runs (start() with an endpoint). One relaxed load.
inline bool enabled() { return detail::enabled.load(std::memory_order_relaxed); }

/// Unix time now, nanoseconds.
std::int64_t now_ns();

/// One span. Built with tracing off, it is inert (ctx() invalid, setters do
/// nothing). With tracing on it gets a new span id: a child of `parent`
/// (same trace id and flags) or, when `parent` is invalid, the root of a new
/// trace, sampled with the configured ratio. Only sampled spans are
/// recorded and exported; unsampled ones still have a context to propagate.
/// end() (or the destructor) stamps the end time and queues it for export.
class span {
 public:
  span() = default;
  span(std::string_view name, kind k, const context& parent, std::int64_t start_ns = 0);
  ~span() { end(); }
  span(span&&) noexcept = default;
  span& operator=(span&& o) noexcept {
    if (this != &o) {
      end();
      data_ = std::move(o.data_);
      ctx_ = o.ctx_;
      o.ctx_ = {};
    }
    return *this;
  }
  span(const span&) = delete;
  span& operator=(const span&) = delete;

  const context& ctx() const { return ctx_; }
  bool recording() const { return data_ != nullptr; }

  void set(std::string key, value v);
  void set_name(std::string name);
  void add_link(const context& c);
  /// Status error (2) with a message.
  void set_error(std::string message);
  /// Status ok (1).
  void set_ok();
  /// Ends the span now (or at `end_ns`); later calls do nothing.
  void end(std::int64_t end_ns = 0);

 private:
  std::unique_ptr<span_data> data_;
  context ctx_;
};

/// The context of the span running on this thread (set by scope), or none.
context current();

/// Makes `c` this thread's current context until destroyed (nests).
class scope {
 public:
  explicit scope(const context& c);
  ~scope();
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;

 private:
  context previous_;
};

/// How the exporter runs.
struct exporter_options {
  std::string service_name = "hearth";
  std::string node_id;                    // resource attribute service.instance.id
  std::size_t max_queue = 4096;           // spans waiting; more are dropped (counted)
  std::size_t max_batch = 512;            // spans per POST
  std::chrono::milliseconds flush{1000};  // a batch leaves at least this often
  double sample_ratio = 1.0;              // of new root traces, 0..1
  /// POSTs one OTLP/HTTP JSON body to the collector's /v1/traces; returns
  /// false on failure. Called on the exporter's own thread only.
  std::function<bool(const std::string& body)> post;
};

/// Starts the exporter thread and turns tracing on. Once per process (a
/// second call before stop() throws std::logic_error).
void start(exporter_options options);
/// Turns tracing off, exports what is queued (one last POST), joins the thread.
void stop();

/// Spans dropped because the queue was full, exported, and failed POSTs.
std::uint64_t dropped();
std::uint64_t exported();
std::uint64_t failed_posts();

/// The OTLP/HTTP JSON ExportTraceServiceRequest of `spans`.
std::string encode_otlp(const std::vector<span_data>& spans, const std::string& service_name,
                        const std::string& node_id);

}  // namespace hearth::trace
