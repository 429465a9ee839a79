#pragma once
// Which I/O thread is running: the HTTP server numbers its threads 0..n-1
// (one io_context each, http/server.hpp), so per-thread state elsewhere
// (fan-out shards, read replicas) can be found without a lock.

namespace hearth::http {

/// The calling thread's I/O thread index, or -1 when it is not one.
int current_io_thread();

/// Marks the calling thread as I/O thread `index` (the server does this
/// when it starts each thread; tests may too).
void set_io_thread(int index);

}  // namespace hearth::http
