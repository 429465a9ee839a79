// SSE fan-out and idle-stream memory of any server that speaks hearth's
// GET /api/v1/sse and POST /api/v1/shop/items (hearth, one or several nodes,
// or the Node peer in bench/peers/fastify), on loopback.
//
// Households: either one (--key KEY --household ID) or many (--accounts FILE,
// one `KEY HOUSEHOLD` pair a line, each key an account that is a member of
// that household only: GET /api/v1/sse streams all households of the
// caller's account, so one account per household keeps every stream to its
// own household). Streams: --subscribers N in all, or (without it)
// --streams-per-household K × the households; stream i belongs to household
// i mod H and connects to the (i mod P)-th --sse port (round-robin over the
// nodes of a cluster).
//
//   fanout: opens the streams, then POSTs a shop item every 1/--rate s (or
//     --interval-ms; open loop, up to --writers requests in flight, each on
//     its own keep-alive connection, or with --new-connection-per-write a new
//     TCP connection per POST, `Connection: close`) to the --write port(s)
//     (writer connection j on the (j mod P)-th), --writes in all; write n goes
//     to household n mod H (uniform). With --affinity, household h's streams
//     and writes all go to the (h mod P)-th port (account affinity). Every `event: change` is matched to its
//     POST by the row id (and must name the stream's own household, else it
//     counts as foreign). Reports delivered events/s (events received by all
//     streams / seconds from the first POST to the last event), write →
//     delivery latency p50/p90/p99/max (POST sent → event read, one steady
//     clock), lost ((stream, successful write of its household) pairs never
//     delivered) and duplicates; with --pid, the server's CPU time
//     (utime+stime, summed over the pids) per delivered event; always the
//     client's own CPU over the same window (per event, as % of one core, and
//     its busiest thread's % of a core: client_bound=1 when a thread was
//     > 90 % busy, i.e. the client, not the server, may have set the pace) and
//     the whole machine's busy % (of all cores); and, measured over 2 s with
//     the streams open before the first POST, the servers' idle CPU (% of a
//     core, a baseline included in the CPU per event).
//   idle: opens the streams, waits until all have their response header,
//     lets the server settle, and reports (VmRSS after − VmRSS before) / N of
//     --pid (KiB per idle stream).
//
//   hearth_bench_fanout --mode fanout|idle --sse PORT[,PORT...]
//     (--key KEY --household ID | --accounts FILE [--streams-per-household 1])
//     [--subscribers N] [--write PORT[,PORT...]] [--writes 500]
//     [--rate WRITES_PER_S | --interval-ms 10] [--writers 4]
//     [--new-connection-per-write] [--pid PID[,PID...]] [--threads 1]
//     [--connect-s 60] [--deadline-s 120] [--reconnect-ms 250] [--label TEXT]
// Prints human lines on stderr and one `RESULT key=value ...` line on stdout.
// Bounded: connecting (--connect-s), writing (--writes, or --deadline-s − 35 s
// after the first POST) and draining (≤ 30 s after the last write, and within
// --deadline-s) all have deadlines. Loopback only.

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
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

struct account {
  std::string key, household;
};

struct options {
  std::string mode = "fanout";
  std::vector<unsigned short> sse_ports, write_ports;
  std::vector<account> accounts;  // index = household number
  std::string label;
  int subscribers = 0;  // 0: streams_per_household × households
  int streams_per_household = 1;
  int writes = 500;
  std::int64_t interval_ns = 10'000'000;
  double rate = 100;      // writes/s asked (1e9 / interval_ns)
  int pid = 0;            // the first of --pid's list (RSS)
  std::vector<int> pids;  // --pid PID[,PID...] (CPU: summed)
  int threads = 1;
  // --affinity: household h's streams and writes all go to port h mod P
  // (a balancer hashing the account; one account per household here).
  bool affinity = false;
  int connect_s = 60;
  int deadline_s = 120;  // from the first POST
  int writers = 4;
  bool new_connection_per_write = false;
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

// utime + stime in seconds of a /proc/.../stat file (fields 14 and 15).
double stat_cpu_seconds(const std::string& path) {
  std::ifstream in(path);
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
double cpu_seconds(int pid) { return stat_cpu_seconds("/proc/" + std::to_string(pid) + "/stat"); }
double cpu_seconds(const std::vector<int>& pids) {
  double sum = 0;
  for (int p : pids) sum += cpu_seconds(p);
  return sum;
}
// This process's threads: tid → utime + stime seconds.
std::map<std::string, double> thread_cpu() {
  std::map<std::string, double> out;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/proc/self/task", ec))
    out[e.path().filename().string()] = stat_cpu_seconds(e.path().string() + "/stat");
  return out;
}
// The whole machine: (busy, total) jiffies over all cores (/proc/stat "cpu").
std::pair<double, double> machine_jiffies() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  double v, busy = 0, total = 0;
  for (int i = 0; i < 8 && in >> v; ++i) {
    total += v;
    if (i != 3 && i != 4) busy += v;  // not idle, not iowait
  }
  return {busy, total};
}

// The rows seen (written or delivered), by row id → slot. A slot belongs to
// one household and has an index among that household's rows; its send time
// is set once the POST's response named the row (events may arrive first).
struct registry {
  std::mutex m;
  std::unordered_map<std::string, int> slot_of;
  std::vector<std::atomic<std::int64_t>> sent_ns;  // 0 = not known (yet)
  std::vector<int> household_of, index_of;         // per slot
  std::vector<std::vector<int>> slots_of;          // per household, by index
  std::atomic<int> ok_writes{0};
  registry(int capacity, std::size_t households)
      : sent_ns(capacity), household_of(capacity), index_of(capacity), slots_of(households) {
    for (auto& s : sent_ns) s = 0;
  }
  // {slot, index in its household}; {-1, -1} when the registry is full or
  // the row is another household's.
  std::pair<int, int> slot(std::string_view id, int household) {
    std::lock_guard lock(m);
    auto it = slot_of.find(std::string(id));
    if (it != slot_of.end()) {
      if (household_of[it->second] != household) return {-1, -1};
      return {it->second, index_of[it->second]};
    }
    if (slot_of.size() >= sent_ns.size()) return {-1, -1};
    int s = static_cast<int>(slot_of.size());
    slot_of.emplace(std::string(id), s);
    household_of[s] = household;
    index_of[s] = static_cast<int>(slots_of[household].size());
    slots_of[household].push_back(s);
    return {s, index_of[s]};
  }
  // Successful writes (send time known) of a household.
  std::int64_t ok_of(int household) {
    std::lock_guard lock(m);
    std::int64_t n = 0;
    for (int s : slots_of[household])
      if (sent_ns[s].load() != 0) ++n;
    return n;
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

// The value of `"name":"` … `"` in a JSON text (no escapes in ids), or "".
std::string_view json_string(std::string_view text, std::string_view quoted_name) {
  auto at = text.find(quoted_name);
  if (at == std::string_view::npos) return {};
  at += quoted_name.size();
  auto close = text.find('"', at);
  if (close == std::string_view::npos) return {};
  return text.substr(at, close - at);
}

class subscriber : public std::enable_shared_from_this<subscriber> {
 public:
  subscriber(net::io_context& io, unsigned short port, int household, const options& o,
             registry& reg, tally& t)
      : sock_(io),
        port_(port),
        household_(household),
        account_(o.accounts[household]),
        o_(o),
        reg_(reg),
        t_(t) {}

  void start(std::function<void()> on_ready) {
    on_ready_ = std::move(on_ready);
    open();
  }

  void open() {
    auto self = shared_from_this();
    sock_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_),
                        [self](boost::system::error_code ec) {
                          if (ec) return self->fail();
                          self->request_ =
                              "GET /api/v1/sse HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Accept: text/event-stream\r\nAuthorization: Bearer " +
                              self->account_.key + "\r\n";
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

  // Successful writes (send time known) of its household it never received.
  std::int64_t missing(const registry& reg) const {
    std::int64_t n = 0;
    const auto& slots = reg.slots_of[household_];
    for (std::size_t i = 0; i < slots.size(); ++i)
      if (reg.sent_ns[slots[i]].load() != 0 && (i >= seen_.size() || !seen_[i])) ++n;
    return n;
  }
  bool connected() const { return header_done_; }
  int household() const { return household_; }

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
        std::fprintf(stderr, "subscriber: %.*s\n",
                     static_cast<int>(std::min<std::size_t>(head.size(), 200)), head.data());
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
      auto row = json_string(block, "\"id\":\"");
      if (row.empty()) continue;
      on_event(row, json_string(block, "\"authHouseholdID\":\""), received);
    }
    text_.erase(0, from);
    return true;
  }

  void on_event(std::string_view row, std::string_view household, std::int64_t received) {
    ++t_.events;
    t_.last_ns = received;
    if (!household.empty() && household != account_.household) {
      ++t_.foreign;  // another household's change on this stream
      return;
    }
    auto [s, index] = reg_.slot(row, household_);
    if (s < 0) {
      ++t_.foreign;
      return;
    }
    if (static_cast<std::size_t>(index) >= seen_.size())
      seen_.resize(std::max<std::size_t>(index + 1, seen_.size() * 2), 0);
    if (seen_[index]) {
      ++t_.duplicates;
      return;
    }
    seen_[index] = 1;
    ++g_distinct;
    auto sent = reg_.sent_ns[s].load();
    if (sent)
      t_.latency_ms.push_back(static_cast<float>((received - sent) / 1e6));
    else
      t_.pending.emplace_back(s, received);
  }

  tcp::socket sock_;
  unsigned short port_;
  int household_;
  const account& account_;
  const options& o_;
  registry& reg_;
  tally& t_;
  std::vector<char> seen_;  // by index of the row in its household
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

// One writer: POST, read the response, name its row. Keep-alive (the
// connection is opened on the first POST and reopened after an error or a
// `Connection: close`), or a new connection for every POST.
class writer : public std::enable_shared_from_this<writer> {
 public:
  writer(net::io_context& io, unsigned short port, const options& o, registry& reg)
      : sock_(io), port_(port), o_(o), reg_(reg) {}
  bool busy() const { return busy_; }
  int failures = 0, connects = 0;

  // Keep-alive: open the connection before the measured window.
  bool connect() {
    boost::system::error_code ec;
    ++connects;
    sock_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    if (!ec) sock_.set_option(tcp::no_delay(true), ec);
    return !ec;
  }

  void post(int n, int household, std::function<void()> done) {
    busy_ = true;
    done_ = std::move(done);
    household_ = household;
    const auto& a = o_.accounts[household];
    auto body = "{\"authHouseholdID\":\"" + a.household + "\",\"name\":\"fanout " +
                std::to_string(n) + "\"}";
    req_ =
        "POST /api/v1/shop/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
        "application/json\r\nAuthorization: Bearer " +
        a.key + "\r\n" + (o_.new_connection_per_write ? "Connection: close\r\n" : "") +
        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    in_.clear();
    sent_ = now_ns();  // connection set-up included
    auto self = shared_from_this();
    if (sock_.is_open()) return send();
    ++connects;
    sock_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_),
                        [self](boost::system::error_code ec) {
                          if (ec) return self->finish(false);
                          self->sock_.set_option(tcp::no_delay(true), ec);
                          self->send();
                        });
  }

 private:
  void send() {
    auto self = shared_from_this();
    net::async_write(sock_, net::buffer(req_), [self](boost::system::error_code ec, std::size_t) {
      if (ec) return self->finish(false);
      self->read();
    });
  }
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
      self->close_after_ = lower.find("connection: close") != std::string::npos;
      bool ok = self->in_.compare(0, 12, "HTTP/1.1 201") == 0;
      auto row = json_string(std::string_view(self->in_).substr(end + 4, length), "\"id\":\"");
      if (ok && !row.empty()) {
        auto [s, index] = self->reg_.slot(row, self->household_);
        if (s >= 0) {
          self->reg_.sent_ns[s] = self->sent_;
          ++self->reg_.ok_writes;
        }
      } else {
        ok = false;
        std::fprintf(stderr, "writer: %.*s\n",
                     static_cast<int>(std::min<std::size_t>(200, self->in_.size())),
                     self->in_.data());
      }
      self->finish(ok, true);
    });
  }
  // ok: a 201 naming its row; complete: a whole response was read (the
  // connection may serve the next POST).
  void finish(bool ok, bool complete = false) {
    if (!ok) ++failures;
    if (!complete || close_after_ || o_.new_connection_per_write) {
      boost::system::error_code ignored;
      sock_.close(ignored);
      sock_ = tcp::socket(sock_.get_executor());
    }
    close_after_ = false;
    busy_ = false;
    if (auto d = std::move(done_)) d();
  }

  tcp::socket sock_;
  unsigned short port_;
  const options& o_;
  registry& reg_;
  std::string req_, in_;
  std::array<char, 4096> chunk_{};
  std::int64_t sent_ = 0;
  int household_ = 0;
  bool busy_ = false, close_after_ = false;
  std::function<void()> done_;
};

double pct(std::vector<float>& v, double q) {
  if (v.empty()) return 0;
  auto i = std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

std::vector<int> int_list(const std::string& v) {
  std::vector<int> out;
  std::size_t p = 0;
  while (p <= v.size()) {
    auto c = v.find(',', p);
    out.push_back(std::stoi(v.substr(p, c - p)));
    if (c == std::string::npos) break;
    p = c + 1;
  }
  return out;
}
std::vector<unsigned short> port_list(const std::string& v) {
  std::vector<unsigned short> out;
  for (int p : int_list(v)) out.push_back(static_cast<unsigned short>(p));
  return out;
}

options parse(int argc, char** argv) {
  options o;
  std::string key, household;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--new-connection-per-write") {
      o.new_connection_per_write = true;
      continue;
    }
    if (k == "--affinity") {
      o.affinity = true;
      continue;
    }
    if (i + 1 >= argc) throw std::runtime_error("option " + k + " needs a value");
    std::string v = argv[++i];
    if (k == "--mode")
      o.mode = v;
    else if (k == "--sse")
      o.sse_ports = port_list(v);
    else if (k == "--write")
      o.write_ports = port_list(v);
    else if (k == "--key")
      key = v;
    else if (k == "--household")
      household = v;
    else if (k == "--accounts") {
      std::ifstream in(v);
      if (!in) throw std::runtime_error("cannot read " + v);
      std::string line;
      while (std::getline(in, line)) {
        std::istringstream fields(line);
        account a;
        if (fields >> a.key >> a.household && a.key[0] != '#') o.accounts.push_back(std::move(a));
      }
    } else if (k == "--subscribers")
      o.subscribers = std::stoi(v);
    else if (k == "--streams-per-household")
      o.streams_per_household = std::max(1, std::stoi(v));
    else if (k == "--writes")
      o.writes = std::stoi(v);
    else if (k == "--interval-ms")
      o.interval_ns = std::stoll(v) * 1'000'000;
    else if (k == "--rate")
      o.interval_ns = static_cast<std::int64_t>(1e9 / std::stod(v));
    else if (k == "--writers")
      o.writers = std::max(1, std::stoi(v));
    else if (k == "--pid") {
      o.pids = int_list(v);
      o.pid = o.pids.front();
    } else if (k == "--threads")
      o.threads = std::max(1, std::stoi(v));
    else if (k == "--connect-s")
      o.connect_s = std::stoi(v);
    else if (k == "--deadline-s")
      o.deadline_s = std::stoi(v);
    else if (k == "--label")
      o.label = v;
    else if (k == "--reconnect-ms")
      o.reconnect_ms = std::stoi(v);
    else
      throw std::runtime_error("unknown option " + k);
  }
  if (!key.empty()) o.accounts.insert(o.accounts.begin(), account{key, household});
  if (o.interval_ns <= 0) throw std::runtime_error("--rate or --interval-ms must be positive");
  o.rate = 1e9 / static_cast<double>(o.interval_ns);
  if (o.subscribers <= 0)
    o.subscribers = o.streams_per_household * static_cast<int>(o.accounts.size());
  bool households_known = std::all_of(o.accounts.begin(), o.accounts.end(),
                                      [](const account& a) { return !a.household.empty(); });
  if (o.sse_ports.empty() || o.accounts.empty() ||
      (o.mode == "fanout" && (o.write_ports.empty() || !households_known)))
    throw std::runtime_error(
        "need --sse, --key or --accounts (and --write, --household for fanout)");
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  const auto o = parse(argc, argv);
  const auto started = clock_type::now();
  const auto connect_deadline = started + std::chrono::seconds(o.connect_s);
  const int households = static_cast<int>(o.accounts.size());
  registry reg(o.writes + 16, o.accounts.size());
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
    while (in_flight.load() >= 128 && clock_type::now() < connect_deadline)
      std::this_thread::sleep_for(1ms);
    if (clock_type::now() >= connect_deadline) break;
    auto& io = *ios[i % o.threads];
    const auto port = o.affinity ? o.sse_ports[(i % households) % o.sse_ports.size()]
                                 : o.sse_ports[i % o.sse_ports.size()];
    auto s = std::make_shared<subscriber>(io, port, i % households, o, reg, tallies[i % o.threads]);
    subs.push_back(s);
    ++in_flight;
    net::post(io, [s, &in_flight] { s->start([&in_flight] { --in_flight; }); });
  }
  while (g_connected + g_failed < static_cast<int>(subs.size()) &&
         clock_type::now() < connect_deadline)
    std::this_thread::sleep_for(5ms);
  const double connect_s = std::chrono::duration<double>(clock_type::now() - started).count();
  std::fprintf(
      stderr, "[fanout %s] %d/%d subscribers of %d households connected in %.1f s (%d failed)\n",
      o.label.c_str(), g_connected.load(), o.subscribers, households, connect_s, g_failed.load());
  // Let the servers finish subscribing them (hearth subscribes asynchronously).
  std::this_thread::sleep_for(o.mode == "idle" ? 3s : 1s);
  // fanout: the servers' CPU while the streams are open and nothing is
  // written (a baseline inside the CPU per event), over 2 s.
  double server_idle_pct = -1;
  if (o.mode == "fanout" && o.pid) {
    const double before = cpu_seconds(o.pids);
    const auto from = clock_type::now();
    std::this_thread::sleep_for(2s);
    server_idle_pct = 100 * (cpu_seconds(o.pids) - before) /
                      std::chrono::duration<double>(clock_type::now() - from).count();
  }

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
    std::printf(
        "RESULT mode=idle label=%s streams=%d failed=%d rss_before_kib=%ld "
        "rss_after_kib=%ld kib_per_stream=%.2f\n",
        o.label.c_str(), n, g_failed.load(), rss_before, rss_after, per);
    std::fflush(stdout);
    stop_all();
    return n == o.subscribers ? 0 : 1;
  }

  // The writers: their own thread and io_context; a POST every interval (open
  // loop: a tick finding all writers busy is sent when one frees).
  net::io_context wio(1);
  std::vector<std::shared_ptr<writer>> ws;
  for (int i = 0; i < o.writers; ++i) {
    ws.push_back(std::make_shared<writer>(wio, o.write_ports[i % o.write_ports.size()], o, reg));
    if (!o.new_connection_per_write && !ws.back()->connect())
      throw std::runtime_error("writer cannot connect");
  }
  int due = 0, sent = 0, completed = 0;
  // The measured window: from the first POST to the end of the drain.
  const double cpu_before = o.pid ? cpu_seconds(o.pids) : -1;
  const double client_before = cpu_seconds(getpid());
  const auto threads_before = thread_cpu();
  const auto machine_before = machine_jiffies();
  const auto first = clock_type::now();
  const auto hard_deadline = first + std::chrono::seconds(o.deadline_s);
  const std::int64_t first_ns = now_ns();
  net::steady_timer tick(wio);
  std::function<void()> pump = [&] {
    for (std::size_t j = 0; j < ws.size(); ++j) {
      auto& w = ws[j];
      if (sent >= due) break;
      if (w->busy()) continue;
      // With affinity, write n goes to its household's node: writer j is on
      // port j mod P (in write_ports order).
      if (o.affinity && j % o.write_ports.size() != (sent % households) % o.write_ports.size())
        continue;
      int n = sent++;
      w->post(n, n % households, [&] {
        ++completed;
        pump();
      });
    }
  };
  std::function<void()> schedule = [&] {
    if (due >= o.writes || clock_type::now() >= hard_deadline - 35s) return;
    ++due;
    pump();
    tick.expires_at(first + std::chrono::nanoseconds(o.interval_ns) * due);
    tick.async_wait([&](boost::system::error_code ec) {
      if (!ec) schedule();
    });
  };
  schedule();
  double writer_cpu = 0;  // the writer thread's CPU seconds (it ends before the window does)
  std::thread wthread([&] {
    while (clock_type::now() < hard_deadline - 30s) {
      wio.run_for(100ms);
      wio.restart();
      if (completed >= sent && (due >= o.writes || clock_type::now() >= hard_deadline - 35s)) break;
    }
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    writer_cpu = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  });
  wthread.join();
  const double write_s = std::chrono::duration<double>(clock_type::now() - first).count();
  int write_failures = 0, write_connects = 0;
  for (auto& w : ws) {
    write_failures += w->failures;
    write_connects += w->connects;
  }
  const int ok = reg.ok_writes.load();
  // Drain: until every live subscriber has every successful write of its
  // household, ≤ 30 s.
  const auto drain_until = std::min(hard_deadline, clock_type::now() + 30s);
  std::vector<std::int64_t> ok_of(households);
  for (int h = 0; h < households; ++h) ok_of[h] = reg.ok_of(h);
  std::int64_t want = 0;
  for (auto& s : subs)
    if (s->connected()) want += ok_of[s->household()];
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
  const double client_cpu = cpu_seconds(getpid()) - client_before;
  double busiest_thread = 0;
  for (auto& [tid, s] : thread_cpu()) {
    auto b = threads_before.find(tid);
    busiest_thread = std::max(busiest_thread, s - (b == threads_before.end() ? 0 : b->second));
  }
  const auto machine_after = machine_jiffies();
  const double window_s = std::chrono::duration<double>(clock_type::now() - first).count();
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
  // Exact: per connected subscriber, the successful writes of its household
  // it did not get (events of writes whose response never came, cut off at
  // the deadline, count as neither delivered nor lost).
  std::int64_t lost = 0;
  for (auto& s : subs)
    if (s->connected()) lost += s->missing(reg);
  const double p50 = pct(lat, .50), p90 = pct(lat, .90), p99 = pct(lat, .99),
               mx = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
  const double client_pct = 100 * client_cpu / window_s;
  const double thread_pct =
      std::max(100 * busiest_thread / window_s, write_s > 0 ? 100 * writer_cpu / write_s : 0.0);
  const double machine_total = machine_after.second - machine_before.second;
  const double machine_pct =
      machine_total > 0 ? 100 * (machine_after.first - machine_before.first) / machine_total : 0;
  const bool client_bound = thread_pct > 90;
  std::fprintf(stderr,
               "[fanout %s] %d subscribers / %d households, %d/%d writes ok in %.1f s (%.0f/s of "
               "%.0f asked, %d connections); %lld events in %.2f s = %.0f events/s; latency p50 "
               "%.2f p90 %.2f p99 %.2f max %.2f ms; lost %lld, duplicates %lld, foreign %lld, "
               "streams closed %d; server CPU %.2f µs/event; client CPU %.0f%% of a core "
               "(busiest thread %.0f%%), machine %.0f%% busy\n",
               o.label.c_str(), g_connected.load(), households, ok, sent, write_s, ok / write_s,
               o.rate, write_connects, static_cast<long long>(events), span_s, events / span_s, p50,
               p90, p99, mx, static_cast<long long>(lost), static_cast<long long>(dups),
               static_cast<long long>(foreign), closed,
               server_cpu > 0 && events > 0 ? server_cpu * 1e6 / events : 0.0, client_pct,
               thread_pct, machine_pct);
  std::printf(
      "RESULT mode=fanout label=%s subscribers=%d households=%d failed=%d writes=%d "
      "write_failures=%d write_connections=%d new_connection_per_write=%d writers=%d "
      "rate_asked=%.1f write_rate=%.1f events=%lld seconds=%.3f events_per_s=%.0f p50_ms=%.3f "
      "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f lost=%lld duplicates=%lld closed=%d foreign=%lld "
      "reconnects=%d resyncs=%d server_cpu_s=%.2f cpu_us_per_event=%.2f cpu_us_per_write=%.1f "
      "threads=%d "
      "client_cpu_s=%.2f client_cpu_us_per_event=%.2f client_cpu_pct=%.1f "
      "client_thread_max_pct=%.1f client_bound=%d machine_busy_pct=%.1f server_idle_cpu_pct=%.1f\n",
      o.label.c_str(), g_connected.load(), households, g_failed.load(), ok, write_failures,
      write_connects, o.new_connection_per_write ? 1 : 0, o.writers, o.rate, ok / write_s,
      static_cast<long long>(events), span_s, events / span_s, p50, p90, p99, mx,
      static_cast<long long>(lost), static_cast<long long>(dups), closed,
      static_cast<long long>(foreign), g_reconnects.load(), g_resyncs.load(), server_cpu,
      server_cpu > 0 && events > 0 ? server_cpu * 1e6 / events : 0.0,
      server_cpu > 0 && ok > 0 ? server_cpu * 1e6 / ok : 0.0, o.threads, client_cpu,
      events > 0 ? client_cpu * 1e6 / events : 0.0, client_pct, thread_pct, client_bound ? 1 : 0,
      machine_pct, server_idle_pct);
  std::fflush(stdout);
  return lost == 0 && g_failed == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "hearth_bench_fanout: %s\n", e.what());
  return 2;
}
