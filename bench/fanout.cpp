// SSE fan-out and idle-stream memory of any server that speaks hearth's
// GET /api/v1/sse and POST /api/v1/shop/items (hearth, one or several nodes,
// or the Node peer in bench/peers/fastify), on loopback.
//
//   fanout: opens N subscribers of one household (spread round-robin over
//     --sse ports), then POSTs a shop item on --write every --interval-ms
//     (open loop, up to 4 requests in flight) for --writes writes, and
//     matches every `event: change` to its POST by the row id. Reports
//     delivered events/s (events received by all subscribers / seconds from
//     the first POST to the last event), write → delivery latency
//     p50/p90/p99/max (POST sent → event read, one steady clock), and lost
//     (subscriber × successful write pairs never delivered) and duplicates;
//     with --pid, also the server's CPU time (utime+stime) per delivered event.
//   idle: opens N subscribers, waits until all have their response header,
//     lets the server settle, and reports (VmRSS after − VmRSS before) / N of
//     --pid (KiB per idle stream).
//
//   hearth_bench_fanout --mode fanout|idle --sse PORT[,PORT...] [--write PORT]
//     --key KEY --household ID [--subscribers N] [--writes W] [--interval-ms 10]
//     [--pid PID[,PID...]] [--threads 1] [--deadline-s 120] [--label TEXT]
// Prints human lines on stderr and one `RESULT key=value ...` line on stdout.
// Bounded: connecting (60 s), writing (--writes or the deadline) and draining
// (30 s after the last write) all have deadlines. Loopback only.

#include <boost/asio.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unistd.h>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch())
      .count();
}

struct options {
  std::string mode = "fanout";
  std::vector<unsigned short> sse_ports;
  unsigned short write_port = 0;
  std::string key, household, label;
  int subscribers = 1000;
  int writes = 500;
  int interval_ms = 10;
  int pid = 0;                // the first of --pid's list (RSS)
  std::vector<int> pids;      // --pid PID[,PID...] (CPU: summed)
  int threads = 1;
  int deadline_s = 120;
  int writers = 4;
  // As a browser's EventSource: a stream the server ends is reopened with
  // Last-Event-ID after this delay (so "lost" counts events the client
  // never got, not streams shed as slow); 0 = never reconnect.
  int reconnect_ms = 250;
  int max_reconnects = 20;  // per subscriber
};

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// utime + stime of `pid` in seconds (/proc/<pid>/stat fields 14 and 15).
double cpu_seconds(int pid);
double cpu_seconds(const std::vector<int>& pids) {
  double sum = 0;
  for (int p : pids) sum += cpu_seconds(p);
  return sum;
}
double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The rows written, by row id → slot; a slot's send time is set once the
// POST's response named the row (events may arrive before that).
struct registry {
  std::mutex m;
  std::unordered_map<std::string, int> slot_of;
  std::vector<std::atomic<std::int64_t>> sent_ns;  // 0 = not known (yet)
  std::atomic<int> ok_writes{0};
  explicit registry(int capacity) : sent_ns(capacity) {
    for (auto& s : sent_ns) s = 0;
  }
  // -1 when the registry is full (a row this run did not write).
  int slot(std::string_view id) {
    std::lock_guard lock(m);
    auto it = slot_of.find(std::string(id));
    if (it != slot_of.end()) return it->second;
    if (slot_of.size() >= sent_ns.size()) return -1;
    int s = static_cast<int>(slot_of.size());
    slot_of.emplace(std::string(id), s);
    return s;
  }
};

// Per reader thread results (merged at the end; no sharing while running).
struct tally {
  std::vector<float> latency_ms;
  std::vector<std::pair<int, std::int64_t>> pending;  // (slot, received ns): send time unknown then
  std::int64_t events = 0, duplicates = 0, foreign = 0, last_ns = 0;
};

std::atomic<std::int64_t> g_distinct{0};  // (subscriber, slot) pairs delivered
std::atomic<int> g_connected{0}, g_failed{0}, g_closed{0}, g_reconnects{0}, g_resyncs{0};

class subscriber : public std::enable_shared_from_this<subscriber> {
 public:
  subscriber(net::io_context& io, unsigned short port, const options& o, registry& reg, tally& t)
      : sock_(io), port_(port), o_(o), reg_(reg), t_(t), seen_(o.writes + 16, 0) {}

  void start(std::function<void()> on_ready) {
    on_ready_ = std::move(on_ready);
    open();
  }

  void open() {
    auto self = shared_from_this();
    sock_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_),
                        [self](boost::system::error_code ec) {
                          if (ec) return self->fail();
                          self->request_ = "GET /api/v1/sse HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                           "Accept: text/event-stream\r\nAuthorization: Bearer " +
                                           self->o_.key + "\r\n";
                          if (!self->last_id_.empty())
                            self->request_ += "Last-Event-ID: " + self->last_id_ + "\r\n";
                          self->request_ += "\r\n";
                          net::async_write(self->sock_, net::buffer(self->request_),
                                           [self](boost::system::error_code ec, std::size_t) {
                                             if (ec) return self->fail();
                                             self->read();
                                           });
                        });
  }

  // Successful writes (send time known) this subscriber never received.
  std::int64_t missing(const registry& reg) const {
    std::int64_t n = 0;
    for (std::size_t i = 0; i < seen_.size() && i < reg.sent_ns.size(); ++i)
      if (reg.sent_ns[i].load() != 0 && !seen_[i]) ++n;
    return n;
  }
  bool connected() const { return header_done_; }

  void abort() {
    stopping_ = true;
    if (timer_) timer_->cancel();
    boost::system::error_code ignored;
    sock_.set_option(net::socket_base::linger(true, 0), ignored);  // RST: no TIME_WAIT pile-up
    sock_.close(ignored);
  }

 private:
  void fail() {
    if (!ready_) {
      ready_ = true;
      ++g_failed;
      if (on_ready_) on_ready_();
    } else if (!closed_) {
      ++g_closed;  // counted per stream the server ended, reconnected or not
      if (stopping_ || o_.reconnect_ms <= 0 || reconnects_ >= o_.max_reconnects) {
        closed_ = true;
        return;
      }
      ++reconnects_;
      ++g_reconnects;
      boost::system::error_code ignored;
      sock_.close(ignored);
      sock_ = tcp::socket(sock_.get_executor());
      used_ = 0;
      text_.clear();
      chunk_left_ = 0;
      need_crlf_ = false;
      reopening_ = true;
      timer_ = std::make_unique<net::steady_timer>(sock_.get_executor());
      timer_->expires_after(std::chrono::milliseconds(o_.reconnect_ms));
      timer_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec && !self->stopping_) self->open();
      });
    }
  }

  void read() {
    if (buf_.size() - used_ < 4096) buf_.resize(std::max<std::size_t>(buf_.size() * 2, 8192));
    auto self = shared_from_this();
    sock_.async_read_some(net::buffer(buf_.data() + used_, buf_.size() - used_),
                          [self](boost::system::error_code ec, std::size_t n) {
                            if (ec) return self->fail();
                            self->used_ += n;
                            if (!self->consume()) return self->fail();
                            self->read();
                          });
  }

  // Parses what is in buf_[0, used_): the header once, then chunked (or raw)
  // body bytes into text_, then complete SSE blocks out of text_.
  bool consume() {
    const auto received = now_ns();
    std::size_t pos = 0;
    if (!header_done_ || reopening_) {
      std::string_view all(buf_.data(), used_);
      auto end = all.find("\r\n\r\n");
      if (end == std::string_view::npos) return used_ < 16384;
      auto head = all.substr(0, end);
      if (head.substr(0, 12) != "HTTP/1.1 200") {
        std::fprintf(stderr, "subscriber: %.*s\n", static_cast<int>(std::min<std::size_t>(head.size(), 200)),
                     head.data());
        return false;
      }
      std::string lower(head);
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      chunked_ = lower.find("transfer-encoding: chunked") != std::string::npos;
      pos = end + 4;
      if (reopening_) {  // a reconnection: the stream goes on where it left off
        reopening_ = false;
      } else {
        header_done_ = true;
        ready_ = true;
        ++g_connected;
      }
      if (on_ready_) {
        auto cb = std::move(on_ready_);
        on_ready_ = nullptr;
        cb();
      }
    }
    // De-chunk into text_.
    while (pos < used_) {
      if (!chunked_) {
        text_.append(buf_.data() + pos, used_ - pos);
        pos = used_;
        break;
      }
      if (chunk_left_ > 0) {
        auto n = std::min(chunk_left_, used_ - pos);
        text_.append(buf_.data() + pos, n);
        pos += n;
        chunk_left_ -= n;
        if (chunk_left_ == 0) need_crlf_ = true;
        continue;
      }
      if (need_crlf_) {
        if (used_ - pos < 2) break;
        pos += 2;
        need_crlf_ = false;
        continue;
      }
      auto* start = buf_.data() + pos;
      auto* eol = static_cast<const char*>(std::memchr(start, '\n', used_ - pos));
      if (!eol) break;
      std::size_t size = std::strtoul(start, nullptr, 16);
      pos = static_cast<std::size_t>(eol - buf_.data()) + 1;
      if (size == 0) return false;  // last chunk: the server ended the stream
      chunk_left_ = size;
    }
    std::memmove(buf_.data(), buf_.data() + pos, used_ - pos);
    used_ -= pos;
    // Complete SSE blocks.
    std::size_t from = 0;
    for (;;) {
      auto end = text_.find("\n\n", from);
      if (end == std::string::npos) break;
      std::string_view block(text_.data() + from, end - from);
      from = end + 2;
      if (block.substr(0, 4) == "id: ") {
        auto eol = block.find('\n');
        last_id_.assign(block.substr(4, eol == std::string_view::npos ? eol : eol - 4));
      }
      if (block.find("event: resync") != std::string_view::npos) ++g_resyncs;
      if (block.find("event: change") == std::string_view::npos) continue;
      auto at = block.find("\"id\":\"");
      if (at == std::string_view::npos) continue;
      at += 6;
      auto close = block.find('"', at);
      if (close == std::string_view::npos) continue;
      on_event(block.substr(at, close - at), received);
    }
    text_.erase(0, from);
    return true;
  }

  void on_event(std::string_view row, std::int64_t received) {
    ++t_.events;
    t_.last_ns = received;
    int s = reg_.slot(row);
    if (s < 0 || s >= static_cast<int>(seen_.size())) {
      ++t_.foreign;
      return;
    }
    if (seen_[s]) {
      ++t_.duplicates;
      return;
    }
    seen_[s] = 1;
    ++g_distinct;
    auto sent = reg_.sent_ns[s].load();
    if (sent)
      t_.latency_ms.push_back(static_cast<float>((received - sent) / 1e6));
    else
      t_.pending.emplace_back(s, received);
  }

  tcp::socket sock_;
  unsigned short port_;
  const options& o_;
  registry& reg_;
  tally& t_;
  std::vector<char> seen_;
  std::vector<char> buf_;
  std::size_t used_ = 0;
  std::string request_, text_;
  std::function<void()> on_ready_;
  bool header_done_ = false, chunked_ = false, need_crlf_ = false, ready_ = false, closed_ = false;
  bool reopening_ = false, stopping_ = false;
  int reconnects_ = 0;
  std::string last_id_;  // the last `id:` seen: Last-Event-ID on reconnection
  std::unique_ptr<net::steady_timer> timer_;
  std::size_t chunk_left_ = 0;
};

// One keep-alive writer connection: POST, read the response, name its row.
class writer : public std::enable_shared_from_this<writer> {
 public:
  writer(net::io_context& io, const options& o, registry& reg) : sock_(io), o_(o), reg_(reg) {}
  bool connect() {
    boost::system::error_code ec;
    sock_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), o_.write_port), ec);
    if (!ec) sock_.set_option(tcp::no_delay(true), ec);
    return !ec;
  }
  bool busy() const { return busy_; }
  std::atomic<int> failures{0};

  void post(int n, std::function<void()> done) {
    busy_ = true;
    done_ = std::move(done);
    auto body = "{\"authHouseholdID\":\"" + o_.household + "\",\"name\":\"fanout " +
                std::to_string(n) + "\"}";
    req_ = "POST /api/v1/shop/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
           "application/json\r\nAuthorization: Bearer " +
           o_.key + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    in_.clear();
    sent_ = now_ns();
    auto self = shared_from_this();
    net::async_write(sock_, net::buffer(req_), [self](boost::system::error_code ec, std::size_t) {
      if (ec) return self->finish(false);
      self->read();
    });
  }

 private:
  void read() {
    auto self = shared_from_this();
    sock_.async_read_some(net::buffer(chunk_), [self](boost::system::error_code ec, std::size_t n) {
      if (ec) return self->finish(false);
      self->in_.append(self->chunk_.data(), n);
      auto end = self->in_.find("\r\n\r\n");
      if (end == std::string::npos) return self->read();
      std::string lower = self->in_.substr(0, end);
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto cl = lower.find("content-length:");
      if (cl == std::string::npos) return self->finish(false);
      auto length = std::stoul(lower.substr(cl + 15));
      if (self->in_.size() < end + 4 + length) return self->read();
      bool ok = self->in_.compare(0, 12, "HTTP/1.1 201") == 0;
      auto body = std::string_view(self->in_).substr(end + 4, length);
      auto at = body.find("\"id\":\"");
      if (ok && at != std::string_view::npos) {
        auto close = body.find('"', at + 6);
        int s = self->reg_.slot(body.substr(at + 6, close - at - 6));
        if (s >= 0) {
          self->reg_.sent_ns[s] = self->sent_;
          ++self->reg_.ok_writes;
        }
      } else {
        ok = false;
        std::fprintf(stderr, "writer: %.*s\n", static_cast<int>(std::min<std::size_t>(200, self->in_.size())),
                     self->in_.data());
      }
      self->finish(ok);
    });
  }
  void finish(bool ok) {
    if (!ok) ++failures;
    busy_ = false;
    if (auto d = std::move(done_)) d();
  }

  tcp::socket sock_;
  const options& o_;
  registry& reg_;
  std::string req_, in_;
  std::array<char, 4096> chunk_{};
  std::int64_t sent_ = 0;
  bool busy_ = false;
  std::function<void()> done_;
};

double pct(std::vector<float>& v, double q) {
  if (v.empty()) return 0;
  auto i = std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--mode") o.mode = v;
    else if (k == "--sse") {
      std::size_t p = 0;
      while (p <= v.size()) {
        auto c = v.find(',', p);
        o.sse_ports.push_back(static_cast<unsigned short>(std::stoi(v.substr(p, c - p))));
        if (c == std::string::npos) break;
        p = c + 1;
      }
    } else if (k == "--write") o.write_port = static_cast<unsigned short>(std::stoi(v));
    else if (k == "--key") o.key = v;
    else if (k == "--household") o.household = v;
    else if (k == "--subscribers") o.subscribers = std::stoi(v);
    else if (k == "--writes") o.writes = std::stoi(v);
    else if (k == "--interval-ms") o.interval_ms = std::stoi(v);
    else if (k == "--pid") {
      std::size_t p = 0;
      while (p <= v.size()) {
        auto c = v.find(',', p);
        o.pids.push_back(std::stoi(v.substr(p, c - p)));
        if (c == std::string::npos) break;
        p = c + 1;
      }
      o.pid = o.pids.front();
    }
    else if (k == "--threads") o.threads = std::max(1, std::stoi(v));
    else if (k == "--deadline-s") o.deadline_s = std::stoi(v);
    else if (k == "--label") o.label = v;
    else if (k == "--reconnect-ms") o.reconnect_ms = std::stoi(v);
    else throw std::runtime_error("unknown option " + k);
  }
  if (o.sse_ports.empty() || o.key.empty() || (o.mode == "fanout" && (!o.write_port || o.household.empty())))
    throw std::runtime_error("need --sse, --key (and --write, --household for fanout)");
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  const auto o = parse(argc, argv);
  const auto started = clock_type::now();
  const auto hard_deadline = started + std::chrono::seconds(o.deadline_s);
  registry reg(o.writes + 16);
  const long rss_before = o.pid ? rss_kib(o.pid) : -1;

  // Reader threads, each with its own io_context and subscribers.
  std::vector<std::unique_ptr<net::io_context>> ios;
  std::vector<tally> tallies(o.threads);
  for (int t = 0; t < o.threads; ++t) ios.push_back(std::make_unique<net::io_context>(1));
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  for (auto& io : ios) guards.emplace_back(io->get_executor());
  std::vector<std::thread> threads;
  for (auto& io : ios) threads.emplace_back([&io] { io->run(); });

  // Connect with at most 128 handshakes in flight (listen backlogs are small).
  std::vector<std::shared_ptr<subscriber>> subs;
  subs.reserve(o.subscribers);
  std::atomic<int> in_flight{0};
  for (int i = 0; i < o.subscribers; ++i) {
    while (in_flight.load() >= 128 && clock_type::now() < started + 60s)
      std::this_thread::sleep_for(1ms);
    if (clock_type::now() >= started + 60s) break;
    auto& io = *ios[i % o.threads];
    auto s = std::make_shared<subscriber>(io, o.sse_ports[i % o.sse_ports.size()], o, reg,
                                          tallies[i % o.threads]);
    subs.push_back(s);
    ++in_flight;
    net::post(io, [s, &in_flight] { s->start([&in_flight] { --in_flight; }); });
  }
  while (g_connected + g_failed < static_cast<int>(subs.size()) && clock_type::now() < started + 60s)
    std::this_thread::sleep_for(5ms);
  const double connect_s = std::chrono::duration<double>(clock_type::now() - started).count();
  std::fprintf(stderr, "[fanout %s] %d/%d subscribers connected in %.1f s (%d failed)\n",
               o.label.c_str(), g_connected.load(), o.subscribers, connect_s, g_failed.load());
  // Let the servers finish subscribing them (hearth subscribes asynchronously).
  std::this_thread::sleep_for(o.mode == "idle" ? 3s : 1s);

  auto stop_all = [&] {
    for (std::size_t i = 0; i < subs.size(); ++i) {
      auto s = subs[i];
      net::post(*ios[i % o.threads], [s] { s->abort(); });
    }
    guards.clear();
    for (auto& t : threads) t.join();
  };

  if (o.mode == "idle") {
    const long rss_after = o.pid ? rss_kib(o.pid) : -1;
    const int n = g_connected.load();
    const double per = n > 0 && rss_before >= 0 ? double(rss_after - rss_before) / n : 0;
    std::fprintf(stderr, "[idle %s] VmRSS %ld → %ld KiB, %d streams: %.2f KiB per stream\n",
                 o.label.c_str(), rss_before, rss_after, n, per);
    std::printf("RESULT mode=idle label=%s streams=%d failed=%d rss_before_kib=%ld "
                "rss_after_kib=%ld kib_per_stream=%.2f\n",
                o.label.c_str(), n, g_failed.load(), rss_before, rss_after, per);
    std::fflush(stdout);
    stop_all();
    return n == o.subscribers ? 0 : 1;
  }

  // The writer: its own thread and io_context; a POST every interval (open
  // loop: a tick finding all writer connections busy is sent when one frees).
  net::io_context wio(1);
  std::vector<std::shared_ptr<writer>> ws;
  for (int i = 0; i < o.writers; ++i) {
    auto w = std::make_shared<writer>(wio, o, reg);
    if (!w->connect()) throw std::runtime_error("writer cannot connect");
    ws.push_back(w);
  }
  int due = 0, sent = 0, completed = 0;
  const double cpu_before = o.pid ? cpu_seconds(o.pids) : -1;
  const auto first = clock_type::now();
  const std::int64_t first_ns = now_ns();
  net::steady_timer tick(wio);
  std::function<void()> pump = [&] {
    for (auto& w : ws) {
      if (sent >= due) break;
      if (w->busy()) continue;
      w->post(sent++, [&] {
        ++completed;
        pump();
      });
    }
  };
  std::function<void()> schedule = [&] {
    if (due >= o.writes || clock_type::now() >= hard_deadline - 35s) return;
    ++due;
    pump();
    tick.expires_at(first + std::chrono::milliseconds(o.interval_ms) * due);
    tick.async_wait([&](boost::system::error_code ec) {
      if (!ec) schedule();
    });
  };
  schedule();
  std::thread wthread([&] {
    while (clock_type::now() < hard_deadline - 30s) {
      wio.run_for(100ms);
      wio.restart();
      if (completed >= sent && (due >= o.writes || clock_type::now() >= hard_deadline - 35s)) break;
    }
  });
  wthread.join();
  const double write_s = std::chrono::duration<double>(clock_type::now() - first).count();
  int write_failures = 0;
  for (auto& w : ws) write_failures += w->failures;
  const int ok = reg.ok_writes.load();
  // Drain: until every live subscriber has every successful write, ≤ 30 s.
  const auto drain_until = std::min(hard_deadline, clock_type::now() + 30s);
  const std::int64_t want = static_cast<std::int64_t>(g_connected.load()) * ok;
  std::int64_t seen = -1;
  auto progressed = clock_type::now();
  while (g_distinct.load() < want && clock_type::now() < drain_until &&
         clock_type::now() - progressed < 5s) {  // no event for 5 s: the rest are lost
    if (g_distinct.load() != seen) {
      seen = g_distinct.load();
      progressed = clock_type::now();
    }
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(200ms);  // stragglers (duplicates) show up
  const int closed = g_closed.load();  // streams the server ended during the run
  const double server_cpu = o.pid ? cpu_seconds(o.pids) - cpu_before : -1;
  stop_all();

  std::vector<float> lat;
  std::int64_t events = 0, dups = 0, foreign = 0, last_ns = 0;
  for (auto& t : tallies) {
    for (auto [s, r] : t.pending) {
      auto sent_at = reg.sent_ns[s].load();
      if (sent_at) t.latency_ms.push_back(static_cast<float>((r - sent_at) / 1e6));
    }
    lat.insert(lat.end(), t.latency_ms.begin(), t.latency_ms.end());
    events += t.events;
    dups += t.duplicates;
    foreign += t.foreign;
    last_ns = std::max(last_ns, t.last_ns);
  }
  const double span_s = last_ns > first_ns ? (last_ns - first_ns) / 1e9 : 1;
  // Exact: per connected subscriber, the successful writes it did not get
  // (events of writes whose response never came, cut off at the deadline,
  // count as neither delivered nor lost).
  std::int64_t lost = 0;
  for (auto& s : subs)
    if (s->connected()) lost += s->missing(reg);
  const double p50 = pct(lat, .50), p90 = pct(lat, .90), p99 = pct(lat, .99),
               mx = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
  std::fprintf(stderr,
               "[fanout %s] %d subscribers, %d/%d writes ok in %.1f s (%.0f/s); %lld events in "
               "%.2f s = %.0f events/s; latency p50 %.2f p90 %.2f p99 %.2f max %.2f ms; lost %lld, "
               "duplicates %lld, streams closed %d\n",
               o.label.c_str(), g_connected.load(), ok, sent, write_s, ok / write_s,
               static_cast<long long>(events), span_s, events / span_s, p50, p90, p99, mx,
               static_cast<long long>(lost), static_cast<long long>(dups), closed);
  std::printf("RESULT mode=fanout label=%s subscribers=%d failed=%d writes=%d write_failures=%d "
              "write_rate=%.1f events=%lld seconds=%.3f events_per_s=%.0f p50_ms=%.3f p90_ms=%.3f "
              "p99_ms=%.3f max_ms=%.3f lost=%lld duplicates=%lld closed=%d foreign=%lld "
              "reconnects=%d resyncs=%d server_cpu_s=%.2f cpu_us_per_event=%.2f\n",
              o.label.c_str(), g_connected.load(), g_failed.load(), ok, write_failures,
              ok / write_s, static_cast<long long>(events), span_s, events / span_s, p50, p90, p99,
              mx, static_cast<long long>(lost), static_cast<long long>(dups), closed,
              static_cast<long long>(foreign), g_reconnects.load(), g_resyncs.load(), server_cpu,
              server_cpu > 0 && events > 0 ? server_cpu * 1e6 / events : 0.0);
  std::fflush(stdout);
  return lost == 0 && g_failed == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "hearth_bench_fanout: %s\n", e.what());
  return 2;
}
