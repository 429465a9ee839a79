// The fan-out floor (bench/fanout.sh, shape a): the least a server can do to
// deliver one event to N SSE streams on this machine. It speaks just enough
// of hearth's protocol for bench/fanout.cpp: GET /api/v1/sse answers a
// chunked text/event-stream, and POST /api/v1/shop/items answers 201 with a
// row id and then writes the same frame bytes (one HTTP chunk: `id:`,
// `event: change`, `data: {authHouseholdID, table, id, operation, updated,
// seq}`, the size hearth sends) to every open stream, one write(2) each.
// No database, no authentication, no per-stream work: one thread, epoll.
// Its CPU time per delivered event is the floor hearth's fan-out is
// compared with (the kernel's loopback send is most of both).
//
// With HEARTBEAT_MS it is also the idle floor (bench/idle.sh): every
// HEARTBEAT_MS / 2 it scans its streams and writes hearth's heartbeat chunk
// (`:` comment, sse::kHeartbeat) to each one quiet for HEARTBEAT_MS or more,
// one write(2) each: hearth's schedule (http/fanout_liveness.cpp) with
// nothing else around it.
//
//   hearth_bench_floor PORT [HEARTBEAT_MS]
// Listens on 127.0.0.1:PORT until SIGTERM or SIGINT. A stream whose socket
// is full loses the frame (counted on stderr at exit); the benchmark's
// shapes stay far below the socket buffers.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

volatile sig_atomic_t stopping = 0;
void on_signal(int) { stopping = 1; }

struct connection {
  int fd = -1;
  std::string in;
  bool stream = false;
};

std::string hex(std::size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

// The value of "key":"..." in a JSON text ("" when absent).
std::string json_string(std::string_view text, std::string_view key) {
  auto at = text.find(key);
  if (at == std::string_view::npos) return "";
  at += key.size();
  auto end = text.find('"', at);
  return end == std::string_view::npos ? "" : std::string(text.substr(at, end - at));
}

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::write(fd, bytes.data(), bytes.size());
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;  // a client that stopped reading: the benchmark counts its loss
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

using steady = std::chrono::steady_clock;

class floor_server {
 public:
  floor_server(int port, int heartbeat_ms) : heartbeat_(heartbeat_ms) {
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_, 4096) != 0) {
      std::perror("floor: listen");
      std::exit(1);
    }
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    add(listen_);
  }

  void run() {
    std::vector<epoll_event> events(256);
    next_scan_ = steady::now() + heartbeat_ / 2;
    while (!stopping) {
      int timeout = 500;
      if (heartbeat_.count() > 0) {
        const auto now = steady::now();
        if (now >= next_scan_) {
          heartbeats(now);
          next_scan_ = now + heartbeat_ / 2;
        }
        timeout = static_cast<int>(
            std::chrono::ceil<std::chrono::milliseconds>(next_scan_ - now).count());
      }
      int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout);
      for (int i = 0; i < n; ++i) {
        int fd = events[static_cast<std::size_t>(i)].data.fd;
        if (fd == listen_)
          accept_all();
        else
          readable(fd);
      }
    }
    std::fprintf(stderr,
                 "floor: %llu events and %llu heartbeats written to streams, %llu short or failed "
                 "writes\n",
                 frames_, heartbeats_, lost_);
  }

 private:
  // Writes the heartbeat chunk to every stream quiet for a heartbeat.
  void heartbeats(steady::time_point now) {
    static constexpr std::string_view chunk = "3\r\n:\n\n\r\n";
    for (int s : streams_) {
      auto& last = last_output_[s];
      if (now - last < heartbeat_) continue;
      last = now;
      if (::write(s, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size()))
        ++heartbeats_;
      else
        ++lost_;
    }
  }

  void add(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept4(listen_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      conns_[fd].fd = fd;
      add(fd);
    }
  }

  void close_conn(int fd) {
    auto it = conns_.find(fd);
    if (it != conns_.end() && it->second.stream) {
      for (auto& s : streams_)
        if (s == fd) {
          s = streams_.back();
          streams_.pop_back();
          break;
        }
    }
    conns_.erase(fd);
    last_output_.erase(fd);
    ::close(fd);
  }

  void readable(int fd) {
    auto& c = conns_[fd];
    char buf[8192];
    for (;;) {
      auto n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        c.in.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close_conn(fd);
        return;
      }
      if (errno == EINTR) continue;
      break;
    }
    // Every whole request in the buffer (keep-alive: one after another).
    while (!c.stream) {
      auto end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) return;
      std::string_view head(c.in.data(), end);
      std::size_t length = 0;
      for (auto key : {"Content-Length:", "content-length:"})
        if (auto at = head.find(key); at != std::string_view::npos)
          length = std::strtoul(c.in.c_str() + at + std::strlen(key), nullptr, 10);
      if (c.in.size() < end + 4 + length) return;
      std::string body = c.in.substr(end + 4, length);
      const bool sse = head.starts_with("GET /api/v1/sse");
      const bool post = head.starts_with("POST /api/v1/shop/items");
      const bool close_after = head.find("Connection: close") != std::string_view::npos;
      c.in.erase(0, end + 4 + length);
      if (sse) {
        c.stream = true;
        streams_.push_back(fd);
        last_output_[fd] = steady::now();
        write_all(fd,
                  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: "
                  "no-cache\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nretry: 2000\n\n\r\n");
      } else if (post) {
        publish(fd, json_string(body, "\"authHouseholdID\":\""), close_after);
        if (close_after) return close_conn(fd);
      } else {
        write_all(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
      }
    }
  }

  // Answers the POST, then writes one frame to every stream.
  void publish(int fd, const std::string& household, bool close_after) {
    ++seq_;
    char id[40];
    std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012llx",
                  static_cast<unsigned long long>(seq_));
    const std::string row = "{\"id\":\"" + std::string(id) + "\",\"authHouseholdID\":\"" +
                            household + "\",\"name\":\"x\",\"done\":false}";
    const std::string answer =
        "{\"success\":true,\"status\":201,\"dataType\":\"ShopItem\","
        "\"dataTotal\":1,\"dataValue\":[" +
        row + "]}";
    write_all(fd, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(answer.size()) + "\r\n" +
                      (close_after ? "Connection: close\r\n" : "") + "\r\n" + answer);
    // The frame: hearth's bytes for one household (a 32-byte cursor id line).
    const std::string event =
        "id: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nevent: change\ndata: {\"authHouseholdID\":\"" +
        household + "\",\"table\":\"shop_item\",\"id\":\"" + id +
        "\",\"operation\":\"create\",\"updated\":\"2026-01-01T00:00:00.000000Z\",\"seq\":" +
        std::to_string(seq_) + "}\n\n";
    const std::string frame = hex(event.size()) + "\r\n" + event + "\r\n";
    const auto now = steady::now();
    for (int s : streams_) {
      last_output_[s] = now;
      auto n = ::write(s, frame.data(), frame.size());
      if (n == static_cast<ssize_t>(frame.size()))
        ++frames_;
      else
        ++lost_;
    }
  }

  int listen_ = -1, epoll_ = -1;
  std::unordered_map<int, connection> conns_;
  std::vector<int> streams_;
  std::unordered_map<int, steady::time_point> last_output_;  // per stream
  const std::chrono::milliseconds heartbeat_;                // 0: none
  steady::time_point next_scan_;
  unsigned long long seq_ = 0, frames_ = 0, heartbeats_ = 0, lost_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: hearth_bench_floor PORT [HEARTBEAT_MS]\n");
    return 2;
  }
  ::signal(SIGTERM, on_signal);
  ::signal(SIGINT, on_signal);
  ::signal(SIGPIPE, SIG_IGN);
  floor_server(std::atoi(argv[1]), argc == 3 ? std::atoi(argv[2]) : 0).run();
  return 0;
}
