// The cluster's TLS middleman actor: CAF 0.17.6's libcaf_openssl
// middleman_actor.cpp (BSD-3-Clause, Copyright 2011-2018 Dominik Charousset)
// with OpenSSL's error queue emptied around every call into the session. See
// tls_transport.hpp for why.

#include "actors/tls_transport.hpp"

#include <openssl/err.h>
#include <sys/socket.h>

#include <caf/actor_system.hpp>
#include <caf/detail/socket_guard.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor_impl.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/io/network/interfaces.hpp>
#include <caf/io/network/stream_impl.hpp>
#include <caf/openssl/session.hpp>
#include <caf/scoped_actor.hpp>
#include <cstring>

#include "config/logging.hpp"

namespace hearth::actors {
namespace {

using native_socket = caf::io::network::native_socket;
using default_mpx = caf::io::network::default_multiplexer;
using caf::io::network::rw_state;
using caf::openssl::session_ptr;

// An empty OpenSSL error queue on entry (so SSL_get_error inside the session
// judges only this call) and on exit (so nothing is left for the next one).
struct clean_error_queue {
  clean_error_queue() { ERR_clear_error(); }
  ~clean_error_queue() { ERR_clear_error(); }
  clean_error_queue(const clean_error_queue&) = delete;
  clean_error_queue& operator=(const clean_error_queue&) = delete;
};

// The stream's policy: reads and writes through the TLS session.
struct tls_policy {
  explicit tls_policy(session_ptr s) : session(std::move(s)) {}

  rw_state read_some(size_t& result, native_socket fd, void* buf, size_t len) {
    clean_error_queue clean;
    return session->read_some(result, fd, buf, len);
  }

  rw_state write_some(size_t& result, native_socket fd, const void* buf, size_t len) {
    clean_error_queue clean;
    return session->write_some(result, fd, buf, len);
  }

  bool must_read_more(native_socket fd, size_t threshold) {
    clean_error_queue clean;
    return session->must_read_more(fd, threshold);
  }

  session_ptr session;
};

// A session for `fd`, its handshake started (accepting or connecting);
// null when the session cannot be made (CAF throws when the certificate, key
// or CA file no longer loads: refused, not a crash of the multiplexer).
session_ptr new_session(caf::actor_system& sys, native_socket fd, bool accepted) {
  clean_error_queue clean;
  try {
    return caf::openssl::make_session(sys, fd, accepted);
  } catch (const std::exception& e) {
    log::error("cluster: no TLS session for a {} link: {}", accepted ? "incoming" : "outgoing",
               e.what());
    return nullptr;
  }
}

class tls_scribe : public caf::io::scribe {
 public:
  tls_scribe(default_mpx& mpx, native_socket fd, session_ptr s)
      : scribe(caf::io::network::conn_hdl_from_socket(fd)), stream_(mpx, fd, std::move(s)) {}

  void configure_read(caf::io::receive_policy::config config) override {
    stream_.configure_read(config);
    if (!launched_) launch();
  }
  void ack_writes(bool enable) override { stream_.ack_writes(enable); }
  std::vector<char>& wr_buf() override { return stream_.wr_buf(); }
  std::vector<char>& rd_buf() override { return stream_.rd_buf(); }
  void graceful_shutdown() override {
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }
  void flush() override { stream_.flush(this); }
  std::string addr() const override {
    auto x = caf::io::network::remote_addr_of_fd(stream_.fd());
    return x ? *x : std::string();
  }
  uint16_t port() const override {
    auto x = caf::io::network::remote_port_of_fd(stream_.fd());
    return x ? *x : 0;
  }
  void launch() {
    launched_ = true;
    stream_.start(this);
    // Schedules the scribe while the handshake (SSL_connect / SSL_accept)
    // still needs to run; afterwards the backend drops the write interest.
    stream_.force_empty_write(this);
  }
  void add_to_loop() override { stream_.activate(this); }
  void remove_from_loop() override { stream_.passivate(); }

 private:
  bool launched_ = false;
  caf::io::network::stream_impl<tls_policy> stream_;
};

class tls_doorman : public caf::io::network::doorman_impl {
 public:
  tls_doorman(default_mpx& mx, native_socket fd) : doorman_impl(mx, fd) {}

  bool new_connection() override {
    // Detached: the broker closed us while the multiplexer still had events.
    if (detached()) return false;
    auto& dm = acceptor_.backend();
    auto fd = acceptor_.accepted_socket();
    caf::detail::socket_guard guard{fd};
    caf::io::network::nonblocking(fd, true);
    auto s = new_session(parent()->system(), fd, true);
    if (!s) return false;
    auto scribe = caf::make_counted<tls_scribe>(dm, fd, std::move(s));
    guard.release();  // the scribe owns the socket
    auto hdl = scribe->hdl();
    parent()->add_scribe(std::move(scribe));
    return doorman::new_connection(&dm, hdl);
  }
};

class tls_middleman_actor : public caf::io::middleman_actor_impl {
 public:
  tls_middleman_actor(caf::actor_config& cfg, caf::actor broker)
      : middleman_actor_impl(cfg, std::move(broker)) {}

  const char* name() const override { return "hearth.tls_middleman"; }

 protected:
  caf::expected<caf::io::scribe_ptr> connect(const std::string& host, uint16_t port) override {
    auto fd = caf::io::network::new_tcp_connection(host, port);
    if (!fd) return std::move(fd.error());
    caf::io::network::nonblocking(*fd, true);
    auto s = new_session(system(), *fd, false);
    if (!s) {
      caf::io::network::close_socket(*fd);
      return caf::sec::cannot_connect_to_node;
    }
    return caf::make_counted<tls_scribe>(mpx(), *fd, std::move(s));
  }

  caf::expected<caf::io::doorman_ptr> open(uint16_t port, const char* addr, bool reuse) override {
    auto fd = caf::io::network::new_tcp_acceptor_impl(port, addr, reuse);
    if (!fd) return std::move(fd.error());
    return caf::make_counted<tls_doorman>(mpx(), *fd);
  }

 private:
  default_mpx& mpx() { return static_cast<default_mpx&>(system().middleman().backend()); }
};

}  // namespace

caf::io::middleman_actor spawn_tls_middleman(caf::actor_system& sys) {
  auto broker = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  return sys.spawn<tls_middleman_actor, caf::detached + caf::hidden>(std::move(broker));
}

void stop_tls_middleman(caf::actor_system& sys, caf::io::middleman_actor& mm) {
  if (!mm) return;
  caf::scoped_actor self{sys, true};
  // kill: a middleman actor ignores other exit messages (CAF 0.17.6
  // middleman_actor_impl.cpp; caf::openssl::manager::stop kills its own too).
  self->send_exit(mm, caf::exit_reason::kill);
  self->wait_for(mm);
  mm = nullptr;
}

}  // namespace hearth::actors
