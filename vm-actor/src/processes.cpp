// processes.cpp: what runs in the container besides its lifecycle: exec'd processes, stdin and
// terminal size, the output log and `logs`, stats and ping.
#include "vm_state.hpp"

#include "container_log.hpp"

#include "berth/actors/job.hpp"
#include "berth/os/file.hpp"
#include "berth/os/random.hpp"
#include "berth/os/time.hpp"
#include "berth/rpc/codec.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

namespace berth::vm::detail {

// Appends output to container.log; the writer rotates the files by the container's --log-opt.
void append_log(vm_state& st, int64_t time, uint8_t fd, uint64_t seq,
                const std::vector<char>& data) {
  if (auto ec = st.log.append(time, fd, data.data(), data.size(), seq))
    vm_log.warn("container={} cannot write its log: {}", st.short_id(), ec.message());
}

// Opens container.log for appending (on start, and when a running container is adopted).
void open_log(vm_state& st) {
  if (!st.log.open(st.dir(), st.rec.log_config))
    vm_log.warn("container={} cannot open its log: {}", st.short_id(), std::strerror(errno));
}

// Cuts the VM's console log when it passed its cap (on the heartbeat): the guest can print to
// its serial port without end. Only a stat here; the cut itself runs as a job.
void cap_console_log(self_ptr self) {
  auto console = self->state.dir() / "console.log";
  struct stat sb {};
  if (::stat(console.c_str(), &sb) != 0 || static_cast<uint64_t>(sb.st_size) <= console_max_bytes)
    return;
  run_job(self, [console]() -> caf::expected<bool> {
    return cap_console(console, console_max_bytes);
  }).then([](bool) {}, [](caf::error&) {});
}

// Host RSS of a process in bytes, from /proc (0 when gone).
uint64_t rss_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

caf::result<void> send_logs(self_ptr self, caf::actor sub, const api::logs_request& req) {
  auto& st = self->state;
  auto id = st.rec.id;
  auto dir = st.dir();
  auto rp = self->make_response_promise();
  bool follow = req.follow && st.live() && !req.boot;
  uint64_t limit = UINT64_MAX;
  uint64_t key = 0;
  if (follow) {
    // Live output from now on is held for this follower until the stored part is sent.
    limit = st.log.size();
    key = st.next_follower++;
    st.followers[key] = follower{sub, {}};
  }
  // The files are opened here, between two appends: what the job reads is the log as of now,
  // whatever rotations happen while it reads.
  auto files = std::make_shared<log_files>();
  if (!req.boot)
    *files = open_log_files(dir, api::effective_log_config(st.rec.log_config).max_file, limit);
  run_job(self,
          [dir, id, sub, req, files, follow]() -> caf::expected<bool> {
            auto send = [&](uint8_t fd, int64_t time, std::vector<char>&& data) {
              caf::anon_send(sub, output_atom_v, id, fd, time, std::move(data));
            };
            if (req.boot)
              for_each_console_piece(dir, [&](std::vector<char>&& piece) {
                send(uint8_t{1}, int64_t{0}, std::move(piece));
              });
            else if (req.tail < 0)
              for_each_log_record(*files,
                                  [&](log_record&& r) { send(r.fd, r.time, std::move(r.data)); });
            else
              for (auto& r : tail_log(*files, req.tail)) send(r.fd, r.time, std::move(r.data));
            if (!follow) caf::anon_send(sub, end_atom_v, id, int32_t{-1});
            return true;
          })
      .then(
          [self, rp, key](bool) mutable {
            auto& st = self->state;
            if (auto it = st.followers.find(key); key != 0 && it != st.followers.end()) {
              // Caught up: release what came meanwhile and go live (or end, if it exited).
              bool ended = false;
              for (auto& m : it->second.held) {
                ended = ended || m.match_element<end_atom>(0);
                caf::anon_send(it->second.subscriber, std::move(m));
              }
              if (!ended) {
                self->monitor(it->second.subscriber);
                st.subscribers.push_back(it->second.subscriber);
              }
              st.followers.erase(it);
            }
            rp.deliver(caf::unit);
          },
          [self, rp, key](caf::error& err) mutable {
            self->state.followers.erase(key);
            rp.deliver(err);
          });
  return rp;
}

caf::result<std::string> start_exec(self_ptr self, const api::exec_request& req, caf::actor sub) {
  auto& st = self->state;
  if (st.ph != phase::running || !st.agent) return not_running(st);
  if (req.cmd.empty()) return make_error(errc::invalid_argument, "no command given to exec");
  agent::process_spec p;
  p.id = "exec-" + os::random_hex(6);
  p.args = req.cmd;
  p.env = st.rec.process.env;
  for (auto& e : req.env) {
    auto key = e.substr(0, e.find('='));
    std::erase_if(p.env, [&](const std::string& x) { return x.substr(0, x.find('=')) == key; });
    if (e.find('=') != std::string::npos) p.env.push_back(e);
  }
  p.cwd = req.workdir.empty() ? st.rec.process.cwd : req.workdir;
  p.user = req.user.empty() ? st.rec.process.user : req.user;
  p.terminal = req.tty;
  p.open_stdin = req.open_stdin;
  p.rows = req.rows;
  p.cols = req.cols;
  p.join = st.rec.process.id;
  if (req.tty &&
      std::none_of(p.env.begin(), p.env.end(), [](auto& e) { return e.rfind("TERM=", 0) == 0; }))
    p.env.push_back("TERM=xterm");
  // Registered before the call: output may come before the answer.
  st.execs[p.id] = exec_entry{sub};
  auto rp = self->make_response_promise<std::string>();
  call_agent(self, agent::method::start, rpc::pack(p))
      .then([rp, id = p.id](const std::string&) mutable { rp.deliver(id); },
            [self, rp, id = p.id](caf::error& err) mutable {
              self->state.execs.erase(id);
              rp.deliver(std::move(err));
            });
  return rp;
}

caf::result<void> write_stdin(self_ptr self, const std::string& process, std::vector<char>& data) {
  auto& st = self->state;
  if (!st.agent || st.ph == phase::idle) return not_running(st);
  auto id = process == st.rec.id ? st.rec.process.id : process;
  auto rp = self->make_response_promise();
  call_agent(self, agent::method::stdin_data, rpc::pack(agent::stdin_chunk{id, std::move(data)}))
      .then([rp](const std::string&) mutable { rp.deliver(caf::unit); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<void> close_stdin(self_ptr self, const std::string& process) {
  auto& st = self->state;
  if (!st.agent || st.ph == phase::idle) return caf::unit;
  auto id = process == st.rec.id ? st.rec.process.id : process;
  auto rp = self->make_response_promise();
  call_agent(self, agent::method::close_stdin, rpc::pack(agent::process_ref{id}))
      .then([rp](const std::string&) mutable { rp.deliver(caf::unit); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<void> resize_tty(self_ptr self, const std::string& process, uint16_t rows,
                             uint16_t cols) {
  auto& st = self->state;
  if (!st.agent || st.ph == phase::idle) return caf::unit;
  auto id = process == st.rec.id ? st.rec.process.id : process;
  auto rp = self->make_response_promise();
  call_agent(self, agent::method::resize, rpc::pack(agent::resize_request{id, rows, cols}))
      .then([rp](const std::string&) mutable { rp.deliver(caf::unit); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<api::container_stats> query_stats(self_ptr self) {
  auto& st = self->state;
  if (st.ph != phase::running || !st.agent) return not_running(st);
  auto rp = self->make_response_promise<api::container_stats>();
  call_agent(self, agent::method::stats, rpc::pack(agent::empty{}), std::chrono::seconds(10))
      .then(
          [self, rp](const std::string& packed) mutable {
            auto& st = self->state;
            auto got = from_guest<agent::vm_stats>(self, "stats answer", packed);
            if (!got) {
              rp.deliver(std::move(got.error()));
              return;
            }
            auto& s = *got;
            api::container_stats out;
            out.id = st.rec.id;
            out.name = st.rec.name;
            out.cpu_ns = s.cpu_ns;
            out.cpus = s.cpus;
            out.memory_used = s.memory_used;
            out.memory_limit = s.memory_total;
            out.host_rss = rss_of(st.qemu_pid);
            for (auto& d : s.disks) {
              if (d.name == "image") continue;  // the shared, read-only image disk
              out.block_read += d.read_bytes;
              out.block_write += d.write_bytes;
            }
            for (auto& n : s.networks) {
              out.net_rx += n.read_bytes;
              out.net_tx += n.write_bytes;
            }
            out.pids = s.pids;
            out.time = os::unix_time_ns();
            rp.deliver(std::move(out));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<api::ping_result> ping_agent(self_ptr self) {
  auto& st = self->state;
  if (st.ph != phase::running || !st.agent) return not_running(st);
  auto rp = self->make_response_promise<api::ping_result>();
  auto sent = now(self);
  call_agent(self, agent::method::ping, rpc::pack(agent::empty{}), std::chrono::seconds(10))
      .then(
          [self, rp, sent](const std::string&) mutable {
            auto rtt = now(self) - sent;
            rp.deliver(api::ping_result{static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(rtt).count())});
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

}  // namespace berth::vm::detail
