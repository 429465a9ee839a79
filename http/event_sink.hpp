#pragma once
// The write side of one Server-Sent-Events stream, as seen by the connection
// actor that owns it. The engine's implementation keeps a bounded queue of
// frames: when more than the limit wait (a slow or stalled client), the
// stream is closed alone, so it never delays anybody else.

#include <functional>
#include <string>

namespace hearth::http {

class event_sink {
 public:
  virtual ~event_sink() = default;
  /// Queues one complete SSE frame ("id: ..\nevent: ..\ndata: ..\n\n").
  /// Thread-safe, never blocks. Returns false when the stream is closed or
  /// was just closed because its queue overflowed.
  virtual bool send(std::string frame) = 0;
  /// Closes the stream after the queued frames. Thread-safe, idempotent.
  virtual void close() = 0;
  /// Sets the callback run once, on a network thread, when the stream ends
  /// (client gone, overflow, close()). Set it before the first send().
  virtual void on_close(std::function<void()> callback) = 0;
};

}  // namespace hearth::http
