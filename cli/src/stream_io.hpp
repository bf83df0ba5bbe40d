// stream_io: a container stream on the terminal: output to stdout/stderr, stdin to the
// container, window-size changes and signals (as docker's sig-proxy) to the daemon.
//
// stdin is sent one chunk at a time: the next chunk is read only after the daemon answered the
// previous one, which it does once the bytes are written in the guest, so a fast producer is
// held back end to end instead of filling memory anywhere in between. With a terminal (-t) the
// local terminal is in raw mode while the stream runs: with -i its input, so Ctrl-C and Ctrl-D
// reach the container's terminal as they would a local one, and always its output, so the
// container's "\r\n" is shown as it is.
#pragma once

#include "berth/rpc/api.hpp"
#include "berth/rpc/client.hpp"

#include <termios.h>

#include <csignal>

#include <optional>
#include <vector>

namespace berth::cli {

/// Prints a stream's output; holds notifications that come before the stream id is known.
class stream_printer {
 public:
  /// Routes the client's notifications here.
  void install(rpc::client& c);
  /// The stream is now known: print what was held for it.
  void set_stream(uint32_t id);
  /// Prefix each line with its RFC 3339 time.
  bool timestamps = false;
  /// Write everything to this fd instead of stdout/stderr by stream (cp, save).
  int sink_fd = -1;
  bool ended() const { return ended_; }
  /// The exit code the stream ended with, if it carried one.
  std::optional<int32_t> exit_code() const { return exit_code_; }
  /// The error the stream ended with, if any.
  const std::string& error() const { return error_; }

 private:
  void on_data(api::stream_data d);
  void on_end(const api::stream_end& e);
  uint32_t stream_id_ = 0;
  bool ended_ = false;
  std::optional<int32_t> exit_code_;
  std::string error_;
  std::vector<api::stream_data> held_data_;
  std::vector<api::stream_end> held_ends_;
};

/// What an interactive session forwards.
struct stream_options {
  bool send_stdin = false;     ///< Forward our stdin (-i).
  bool tty = false;            ///< The remote side is a terminal (-t): raw mode, resizes.
  std::string kill_container;  ///< Forward SIGINT/SIGTERM/SIGHUP etc. to this container
                               ///< (docker's sig-proxy, without -t); empty: not forwarded.
};

/// Puts the local terminal in raw mode for its lifetime, where stdin and stdout are terminals.
class raw_terminal {
 public:
  /// With `input`, stdin's terminal is raw: keys reach the container as typed (Ctrl-C too).
  /// With `output`, stdout's terminal stops translating output ("\n" to "\r\n"): the
  /// container's terminal did that already, and twice would end lines with "\r\r\n".
  raw_terminal(bool input, bool output);
  ~raw_terminal();
  raw_terminal(const raw_terminal&) = delete;
  raw_terminal& operator=(const raw_terminal&) = delete;

 private:
  std::optional<termios> saved_in_;
  std::optional<termios> saved_out_;
};

/// The local terminal's size, or nullopt if stdout is not a terminal.
std::optional<std::pair<uint16_t, uint16_t>> terminal_size();

/// Runs the stream until it ended and `done()` holds (e.g. the wait response arrived), forwarding
/// stdin, resizes and signals as `opts` says. Throws rpc::call_error if the connection fails.
template <class Done>
void run_stream(rpc::client& c, stream_printer& printer, uint32_t stream,
                const stream_options& opts, Done done);

/// The non-template part of run_stream: one round of the loop; false when nothing is left to do.
class stream_pump {
 public:
  stream_pump(rpc::client& c, uint32_t stream, const stream_options& opts);
  ~stream_pump();
  /// Waits for input (socket, stdin, signals) at most `timeout_ms` and handles it.
  void step(int timeout_ms);
  /// Reads what was typed on the still-cooked terminal: whole lines, and an end of file (Ctrl-D,
  /// or what `script` sends when its own stdin ends). Called just before the terminal goes raw:
  /// the kernel keeps a cooked end of file as a NUL byte that a raw read returns, which the
  /// container's terminal would echo as "^@". Sent first; the end of file as the terminal's
  /// EOF character (Ctrl-D), as a raw terminal would have passed it on.
  void take_typed_ahead();
  /// A signal that ends this process (SIGINT, SIGTERM, SIGHUP, SIGQUIT) caught while the
  /// terminal is raw and signals are not forwarded; 0 if none. run_stream then restores the
  /// terminal and raises it again, so Ctrl-C after `run -t` leaves a sane terminal.
  int stop_signal() const { return stop_signal_; }

 private:
  rpc::client& c_;
  uint32_t stream_;
  stream_options opts_;
  bool stdin_open_ = false;
  std::optional<uint32_t> pending_stdin_;  ///< Id of the stream.stdin request in flight.
  std::vector<char> typed_ahead_;          ///< Read by take_typed_ahead, not sent yet.
  std::vector<uint32_t> fire_and_forget_;  ///< resize/kill requests whose answers we drop.
  int signal_pipe_[2] = {-1, -1};
  int stop_signal_ = 0;
};

template <class Done>
void run_stream(rpc::client& c, stream_printer& printer, uint32_t stream,
                const stream_options& opts, Done done) {
  int stop = 0;
  {
    stream_pump pump(c, stream, opts);
    // As Docker: with a terminal in the container, ours is raw, whether or not stdin is sent.
    std::optional<raw_terminal> raw;
    if (opts.tty) {
      pump.take_typed_ahead();
      raw.emplace(opts.send_stdin, true);
    }
    while (!(printer.ended() && done()) && (stop = pump.stop_signal()) == 0) pump.step(1000);
  }
  // The terminal is back as it was and the handlers are the defaults: end as the signal says.
  if (stop != 0) ::raise(stop);
}

}  // namespace berth::cli
