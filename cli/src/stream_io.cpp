// stream_io.cpp: printing streams, raw mode, and the interactive loop.
#include "stream_io.hpp"

#include "format.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <utility>

namespace berth::cli {

namespace {

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    auto w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // a closed stdout (| head) ends the output, not the command
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Signals reach the loop through a pipe (async-signal-safe: one write of the signal number).
int signal_fd = -1;

void on_signal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  if (signal_fd >= 0) [[maybe_unused]]
    auto n = ::write(signal_fd, &b, 1);
  errno = saved;
}

}  // namespace

void stream_printer::install(rpc::client& c) {
  c.on_notification = [this](const rpc::message& m) {
    if (m.method == api::notice::stream_data)
      on_data(rpc::arg<api::stream_data>(m));
    else if (m.method == api::notice::stream_end)
      on_end(rpc::arg<api::stream_end>(m));
  };
}

void stream_printer::set_stream(uint32_t id) {
  stream_id_ = id;
  auto data = std::move(held_data_);
  auto ends = std::move(held_ends_);
  for (auto& d : data) on_data(std::move(d));
  for (auto& e : ends) on_end(e);
}

void stream_printer::on_data(api::stream_data d) {
  if (stream_id_ == 0) return held_data_.push_back(std::move(d));
  if (d.stream_id != stream_id_) return;
  int fd = sink_fd >= 0 ? sink_fd : d.fd == 2 ? STDERR_FILENO : STDOUT_FILENO;
  if (!timestamps) return write_all(fd, d.data.data(), d.data.size());
  // One timestamp per line, like docker logs -t.
  std::string out;
  std::size_t start = 0;
  while (start < d.data.size()) {
    auto nl = std::find(d.data.begin() + static_cast<long>(start), d.data.end(), '\n');
    auto end = static_cast<std::size_t>(nl - d.data.begin()) + (nl == d.data.end() ? 0 : 1);
    out += rfc3339(d.time) + " ";
    out.append(d.data.data() + start, end - start);
    start = end;
  }
  write_all(fd, out.data(), out.size());
}

void stream_printer::on_end(const api::stream_end& e) {
  if (stream_id_ == 0) return held_ends_.push_back(e);
  if (e.stream_id != stream_id_) return;
  ended_ = true;
  if (e.has_exit_code) exit_code_ = e.exit_code;
  error_ = e.error;
}

raw_terminal::raw_terminal(bool input, bool output) {
  termios t{};
  if (input && ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &t) == 0) {
    saved_in_ = t;
    ::cfmakeraw(&t);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
  }
  // Read after stdin's change: when both are one terminal, its output is raw already.
  if (output && ::isatty(STDOUT_FILENO) && ::tcgetattr(STDOUT_FILENO, &t) == 0 &&
      (t.c_oflag & OPOST) != 0) {
    saved_out_ = t;
    t.c_oflag &= ~static_cast<tcflag_t>(OPOST);
    ::tcsetattr(STDOUT_FILENO, TCSANOW, &t);
  }
}

raw_terminal::~raw_terminal() {
  if (saved_out_) ::tcsetattr(STDOUT_FILENO, TCSADRAIN, &*saved_out_);
  if (saved_in_) ::tcsetattr(STDIN_FILENO, TCSANOW, &*saved_in_);
}

std::optional<std::pair<uint16_t, uint16_t>> terminal_size() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0) return std::nullopt;
  return std::make_pair(ws.ws_row, ws.ws_col);
}

stream_pump::stream_pump(rpc::client& c, uint32_t stream, const stream_options& opts)
    : c_(c), stream_(stream), opts_(opts), stdin_open_(opts.send_stdin) {
  if (::pipe2(signal_pipe_, O_CLOEXEC | O_NONBLOCK) == 0) {
    signal_fd = signal_pipe_[1];
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (opts_.tty) ::sigaction(SIGWINCH, &sa, nullptr);
    if (!opts_.kill_container.empty())
      for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2})
        ::sigaction(s, &sa, nullptr);
    else if (opts_.tty)
      for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(s, &sa, nullptr);
  }
  if (opts_.tty)
    if (auto size = terminal_size())
      fire_and_forget_.push_back(c_.send(api::method::stream_resize,
                                         api::resize_request{stream_, size->first, size->second}));
}

stream_pump::~stream_pump() {
  signal_fd = -1;
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int s : {SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2})
    ::sigaction(s, &sa, nullptr);
  if (signal_pipe_[0] >= 0) ::close(signal_pipe_[0]);
  if (signal_pipe_[1] >= 0) ::close(signal_pipe_[1]);
}

void stream_pump::take_typed_ahead() {
  if (!stdin_open_ || !::isatty(STDIN_FILENO)) return;
  // Cooked, stdin is readable only with a whole line or an end of file waiting: no read blocks.
  pollfd p{STDIN_FILENO, POLLIN, 0};
  while (::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0) {
    char buf[4096];
    auto got = ::read(STDIN_FILENO, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    if (got == 0) {
      termios t{};
      bool have = ::tcgetattr(STDIN_FILENO, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE;
      typed_ahead_.push_back(have ? static_cast<char>(t.c_cc[VEOF]) : '\x04');
      break;
    }
    typed_ahead_.insert(typed_ahead_.end(), buf, buf + got);
  }
}

void stream_pump::step(int timeout_ms) {
  // Answers we do not wait for are consumed as they come, so they do not pile up.
  std::erase_if(fire_and_forget_, [&](uint32_t id) {
    if (!c_.has_response(id)) return false;
    c_.wait(id);
    return true;
  });
  if (pending_stdin_ && c_.has_response(*pending_stdin_)) {
    try {
      rpc::result_as<api::empty>(c_.wait(*pending_stdin_));
    } catch (const rpc::call_error&) {
      stdin_open_ = false;  // the process is gone or its stdin closed: stop reading ours
    }
    pending_stdin_.reset();
  }
  // What take_typed_ahead read goes first, one call at a time like the rest of stdin.
  if (stdin_open_ && !pending_stdin_ && !typed_ahead_.empty()) {
    pending_stdin_ = c_.send(api::method::stream_stdin,
                             api::stdin_request{stream_, std::exchange(typed_ahead_, {})});
  }
  pollfd fds[3];
  int n = 0;
  fds[n++] = {c_.fd(), POLLIN, 0};
  int stdin_slot = -1, signal_slot = -1;
  if (stdin_open_ && !pending_stdin_) {
    stdin_slot = n;
    fds[n++] = {STDIN_FILENO, POLLIN, 0};
  }
  if (signal_pipe_[0] >= 0) {
    signal_slot = n;
    fds[n++] = {signal_pipe_[0], POLLIN, 0};
  }
  int r = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
  if (r < 0 && errno != EINTR) throw rpc::call_error(errc::io, "poll failed");
  if (r <= 0) return;
  if (fds[0].revents) c_.poll_once(std::chrono::milliseconds(0));
  if (stdin_slot >= 0 && fds[stdin_slot].revents) {
    std::vector<char> buf(64 * 1024);
    auto got = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (got > 0) {
      buf.resize(static_cast<std::size_t>(got));
      pending_stdin_ =
          c_.send(api::method::stream_stdin, api::stdin_request{stream_, std::move(buf)});
    } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
      stdin_open_ = false;
      fire_and_forget_.push_back(c_.send(api::method::stream_close_stdin, api::stream{stream_}));
    }
  }
  if (signal_slot >= 0 && fds[signal_slot].revents) {
    unsigned char sig;
    while (::read(signal_pipe_[0], &sig, 1) == 1) {
      if (sig == SIGWINCH) {
        if (auto size = terminal_size())
          fire_and_forget_.push_back(c_.send(
              api::method::stream_resize, api::resize_request{stream_, size->first, size->second}));
      } else if (!opts_.kill_container.empty()) {
        fire_and_forget_.push_back(
            c_.send(api::method::container_kill,
                    api::kill_request{opts_.kill_container, std::to_string(sig)}));
      } else {
        stop_signal_ = sig;  // ours to end by: run_stream restores the terminal first
      }
    }
  }
}

}  // namespace berth::cli
