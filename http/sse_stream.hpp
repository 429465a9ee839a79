#pragma once
// The socket half of one SSE stream (the other half, sse_stream_core in
// http/fanout_shard.hpp, holds its households, cursor and output). It owns
// the connection after the response header: writes each flush as one HTTP
// chunk, straight to the socket when it has room (plain TCP), else when it
// becomes writable (each call's progress counts against sseStallMs, not the
// size of the write), keeps a read pending only to
// notice the client leaving, and writes the last chunk on a graceful close.
// Internal to the engine (included by http/server.cpp only).

#include <fmt/format.h>

#include <array>
#include <optional>

#include "http/engine_state.hpp"
#include "http/fanout_shard.hpp"

namespace hearth::http::detail {

template <class Stream>
class sse_stream final : public sse_stream_core,
                         public std::enable_shared_from_this<sse_stream<Stream>> {
  using std::enable_shared_from_this<sse_stream<Stream>>::shared_from_this;

 public:
  sse_stream(Stream stream, fanout_shard& shard, const std::vector<sse::stream_start>& start,
             engine_state& state)
      : sse_stream_core(shard, start), stream_(std::move(stream)), state_(state) {
    ++state_.open_streams;
  }
  ~sse_stream() override { --state_.open_streams; }

  /// On the stream's I/O thread: joins the shard, writes the header, then
  /// `prelude` and whatever was appended meanwhile.
  void start(std::shared_ptr<bhttp::response<bhttp::empty_body>> header, std::string prelude) {
    join_shard();
    header_ = std::move(header);
    serializer_ = std::make_unique<bhttp::response_serializer<bhttp::empty_body>>(*header_);
    prelude_ = std::move(prelude);
    // No timer on the read: an SSE client sends nothing, so data or EOF both
    // end the stream; stalls are judged on writes by the shard's tick.
    if constexpr (is_tls<Stream>) {
      tcp_of(stream_).expires_never();
    } else {
      beast::error_code ignored;
      stream_.non_blocking(true, ignored);  // for write_now()
    }
    stream_.async_read_some(net::buffer(read_buf_),
                            [self = shared_from_this()](beast::error_code, std::size_t) {
                              self->finish(end_reason::client);
                            });
    blocked(true);  // until the header is out: a client that reads nothing stalls here
    bhttp::async_write_header(stream_, *serializer_,
                              [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                if (ec || self->dead()) return self->finish(end_reason::client);
                                self->blocked(false);
                                self->header_.reset();
                                self->serializer_.reset();
                                if (self->prelude_.empty()) return self->header_written();
                                // The prelude goes first, as its own chunk.
                                self->writing_prelude_ = true;
                                self->start_write(self->prelude_);
                              });
  }

 private:
  void start_write(std::string_view payload) override {
    const auto head =
        fmt::format_to_n(chunk_head_.data(), chunk_head_.size() - 2, "{:x}", payload.size());
    char* end = head.out;
    *end++ = '\r';
    *end++ = '\n';
    static constexpr char kCrlf[] = "\r\n";
    out_.emplace(std::array<net::const_buffer, 3>{
        net::buffer(chunk_head_.data(), static_cast<std::size_t>(end - chunk_head_.data())),
        net::buffer(payload), net::buffer(kCrlf, 2)});
    left_ = beast::buffer_bytes(*out_);
    if constexpr (is_tls<Stream>) {
      write_some();
    } else {
      write_now();
    }
  }

  // Plain TCP: the write goes to the socket at once (one sendmsg), as
  // uWebSockets does with corked output; only when the socket buffer is full
  // does the stream wait for it to become writable. No reactor operation and
  // no completion handler in the common case.
  void write_now() {
    auto& socket = socket_of(stream_);
    for (;;) {
      beast::error_code ec;
      const auto n = socket.write_some(*out_, ec);
      if (ec == net::error::would_block || ec == net::error::try_again) {
        blocked(true);
        socket.async_wait(tcp::socket::wait_write,
                          [self = shared_from_this()](beast::error_code ec2) {
                            if (ec2) return self->finish(end_reason::client);
                            self->write_now();
                          });
        return;
      }
      if (ec) {
        // Not from inside the caller's loop over the shard's streams.
        net::post(stream_.get_executor(),
                  [self = shared_from_this()] { self->finish(end_reason::client); });
        return;
      }
      out_->consume(n);
      left_ -= n;
      if (left_ == 0) {
        out_.reset();
        return done_writing();
      }
      progressed();
    }
  }

  // TLS: through the stream's own async_write_some (it encrypts); checked
  // for stalls while under way.
  void write_some() {
    if (dead()) return finish(end_reason::client);
    blocked(true);
    stream_.async_write_some(*out_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                               if (ec) return self->finish(end_reason::client);
                               self->out_->consume(n);
                               self->left_ -= n;
                               if (self->left_ > 0) {
                                 self->progressed();
                                 return self->write_some();
                               }
                               self->out_.reset();
                               self->done_writing();
                             });
  }

  void done_writing() {
    blocked(false);
    if (std::exchange(writing_prelude_, false)) {
      std::string().swap(prelude_);
      return header_written();
    }
    written();
  }

  void start_final() override {
    blocked(true);
    net::async_write(stream_, bhttp::make_chunk_last(),
                     [self = shared_from_this()](beast::error_code, std::size_t) {
                       self->finish(end_reason::closed);
                     });
  }

  void close_socket() override {
    beast::error_code ignored;
    socket_of(stream_).shutdown(tcp::socket::shutdown_both, ignored);
    socket_of(stream_).close(ignored);
  }

  void finish(end_reason why) {
    close_socket();
    ended(why);
  }

  Stream stream_;
  engine_state& state_;
  std::shared_ptr<bhttp::response<bhttp::empty_body>> header_;
  std::unique_ptr<bhttp::response_serializer<bhttp::empty_body>> serializer_;  // header only
  std::string prelude_;
  bool writing_prelude_ = false;
  std::array<char, 20> chunk_head_{};
  std::optional<beast::buffers_suffix<std::array<net::const_buffer, 3>>> out_;
  std::size_t left_ = 0;
  std::array<char, 64> read_buf_{};
};

}  // namespace hearth::http::detail
