#pragma once
// Zero-downtime restart. On SIGUSR2 the running hearth starts its successor
// (the same binary and arguments) and hands it the listening socket the way
// systemd socket activation does (fd 3, LISTEN_FDS=1, LISTEN_PID); the
// successor reports readiness with the systemd notify protocol (READY=1 on
// NOTIFY_SOCKET). Only then does the predecessor stop accepting and drain:
// the kernel's accept queue is shared, so no connection is refused or lost
// during the switch. If the successor fails to become ready, the predecessor
// keeps serving. The same two protocols make hearth work under systemd with
// socket activation and Type=notify. (libsystemd: sd_listen_fds, sd_notify.)

#include <chrono>
#include <string>
#include <vector>

namespace hearth::app {

/// The listening socket inherited by socket activation (fd 3 when
/// LISTEN_FDS=1 and LISTEN_PID is this process), or -1. Unsets the
/// variables so that children do not inherit them.
int inherited_listen_fd();

/// Tells the parent or systemd that this process serves (READY=1); a no-op
/// without NOTIFY_SOCKET.
void notify_ready();

/// Tells systemd (when it supervises us) that `pid` is now the main process.
void notify_main_pid(int pid);

/// Starts the successor: `argv` re-executed from /proc/self/exe with
/// `listen_fd` as fd 3, and waits up to `timeout` for its READY=1. Returns
/// its pid when ready; -1 when it exited, failed to start, or timed out (it
/// is then killed). Call from a non-network thread.
int start_successor(const std::vector<std::string>& argv, int listen_fd,
                    std::chrono::milliseconds timeout);

}  // namespace hearth::app
