// registry_support.cpp: registries, token server, stubs and the fault proxy for the tests.
#include "registry_support.hpp"

#include "berth/image/digest.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"
#include "berth/os/random.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace berth::image::test {

using namespace std::chrono_literals;

namespace {

int listen_on_loopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0)
    throw std::runtime_error("cannot listen on 127.0.0.1");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Waits for a connection on `fd` for up to 50 ms; -1 if none.
int accept_some(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 50) <= 0) return -1;
  int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c >= 0) {
    timeval tv{10, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  return c;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads one request (head and Content-Length body); false at end of stream.
bool read_request(int fd, seen_request& req, std::string& head, std::string& body) {
  std::string buf;
  char chunk[4096];
  size_t end = std::string::npos;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
    // A TLS ClientHello (a client trying HTTPS first): not ours.
    if (buf[0] == 0x16) return false;
  }
  head = buf.substr(0, end + 4);
  body = buf.substr(end + 4);
  auto line_end = head.find("\r\n");
  auto first = head.substr(0, line_end);
  auto sp1 = first.find(' ');
  auto sp2 = first.find(' ', sp1 + 1);
  req.method = first.substr(0, sp1);
  req.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t pos = line_end + 2;
  while (pos < head.size()) {
    auto e = head.find("\r\n", pos);
    if (e == pos || e == std::string::npos) break;
    auto line = head.substr(pos, e - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      req.headers[lower(line.substr(0, colon))] = value;
    }
    pos = e + 2;
  }
  size_t length =
      req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
  while (body.size() < length) {
    auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    body.append(chunk, static_cast<size_t>(n));
  }
  return true;
}

std::string base64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(bytes.data()),
                           static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::string base64_decode(std::string_view text) {
  std::string out(3 * text.size() / 4 + 1, '\0');
  auto n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(text.data()),
                           static_cast<int>(text.size()));
  if (n < 0) return {};
  size_t len = static_cast<size_t>(n);
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --len;
  out.resize(len);
  return out;
}

// libtrust's key id: base32 of the first 240 bits of sha256(DER SubjectPublicKeyInfo), in
// groups of four separated by ':'. docker-registry finds the token's key by it.
std::string libtrust_kid(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  std::string spki(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_Digest(spki.data(), spki.size(), md, &mdlen, EVP_sha256(), nullptr);
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string b32;
  uint64_t acc = 0;
  int bits = 0;
  for (int i = 0; i < 30; ++i) {
    acc = (acc << 8) | md[i];
    bits += 8;
    while (bits >= 5) {
      b32.push_back(alphabet[(acc >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  std::string out;
  for (size_t i = 0; i < b32.size(); i += 4) {
    if (!out.empty()) out.push_back(':');
    out += b32.substr(i, 4);
  }
  return out;
}

std::string sign_rs256(const fs::path& key_file, std::string_view data) {
  FILE* f = std::fopen(key_file.c_str(), "r");
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                 data.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return sig;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string{s.substr(i + 1, 2)}, nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

void make_self_signed(const fs::path& cert, const fs::path& key) {
  auto r = run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key.string(),
                "-out", cert.string(), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

}  // namespace

uint16_t free_port() {
  uint16_t port = 0;
  int fd = listen_on_loopback(port);
  ::close(fd);
  return port;
}

std::string http_response_text(int status, std::string_view body,
                               std::vector<std::string> headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
  for (auto& h : headers) out += h + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  out += body;
  return out;
}

// -- http_stub ------------------------------------------------------------------------------------

http_stub::http_stub(handler h) : handler_(std::move(h)) {
  listen_fd_ = listen_on_loopback(port_);
  thread_ = std::thread{[this] { serve(); }};
}

http_stub::~http_stub() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::vector<seen_request> http_stub::requests() const {
  std::lock_guard<std::mutex> guard{m_};
  return seen_;
}

void http_stub::serve() {
  while (!stop_) {
    int c = accept_some(listen_fd_);
    if (c < 0) continue;
    seen_request req;
    std::string head, body;
    if (read_request(c, req, head, body)) {
      {
        std::lock_guard<std::mutex> guard{m_};
        seen_.push_back(req);
      }
      send_all(c, handler_(req));
    }
    ::close(c);
  }
}

// -- token_server ---------------------------------------------------------------------------------

token_server::token_server(const fs::path& dir, std::string service, std::string user,
                           std::string password)
    : service_(std::move(service)), user_(std::move(user)), password_(std::move(password)) {
  cert_ = dir / "token.crt";
  key_ = dir / "token.key";
  make_self_signed(cert_, key_);
  FILE* f = std::fopen(key_.c_str(), "r");
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  kid_ = libtrust_kid(key);
  EVP_PKEY_free(key);
  stub_ = std::make_unique<http_stub>([this](const seen_request& req) {
    int status = 200;
    auto body = issue(req, status);
    return http_response_text(status, body, {"Content-Type: application/json"});
  });
}

std::string token_server::issue(const seen_request& req, int& status) {
  std::string subject;
  if (auto a = req.headers.find("authorization"); a != req.headers.end()) {
    auto raw = base64_decode(a->second.substr(a->second.find(' ') + 1));
    if (raw != user_ + ":" + password_) {
      status = 401;
      return R"({"details":"wrong credentials"})";
    }
    subject = user_;
  }
  nlohmann::json access = nlohmann::json::array();
  auto q = req.target.find('?');
  std::string query = q == std::string::npos ? "" : req.target.substr(q + 1);
  size_t pos = 0;
  while (pos <= query.size() && !query.empty()) {
    auto amp = query.find('&', pos);
    auto kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    auto eq = kv.find('=');
    if (eq != std::string::npos && kv.substr(0, eq) == "scope") {
      auto scope = url_decode(kv.substr(eq + 1));  // repository:NAME:ACTIONS
      auto c1 = scope.find(':');
      auto c2 = scope.rfind(':');
      if (c1 != std::string::npos && c2 > c1) {
        nlohmann::json actions = nlohmann::json::array();
        auto list = scope.substr(c2 + 1);
        size_t p = 0;
        while (p <= list.size()) {
          auto comma = list.find(',', p);
          auto action = list.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
          if (action == "pull" || !subject.empty()) actions.push_back(action);
          if (comma == std::string::npos) break;
          p = comma + 1;
        }
        access.push_back({{"type", scope.substr(0, c1)},
                          {"name", scope.substr(c1 + 1, c2 - c1 - 1)},
                          {"actions", actions}});
      }
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  nlohmann::json header{{"typ", "JWT"}, {"alg", "RS256"}, {"kid", kid_}};
  nlohmann::json claims{{"iss", issuer_},           {"sub", subject},  {"aud", service_},
                        {"exp", now + 300},         {"nbf", now - 10}, {"iat", now},
                        {"jti", os::random_hex(8)}, {"access", access}};
  auto signing_input = base64url(header.dump()) + "." + base64url(claims.dump());
  auto jwt = signing_input + "." + base64url(sign_rs256(key_, signing_input));
  return nlohmann::json{{"token", jwt}, {"expires_in", 300}}.dump();
}

// -- registry_server ------------------------------------------------------------------------------

registry_server::registry_server(options opts) : opts_(std::move(opts)) {
  dir_ = dir_holder_.path();
  port_ = free_port();
  std::string config =
      "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
      "storage:\n  filesystem:\n    rootdirectory: " +
      (dir_ / "storage").string() +
      "\n  delete:\n    enabled: true\n"
      "http:\n  addr: " +
      host() + "\n  secret: berth-test-secret\n";
  if (opts_.tls) {
    auto cert = dir_ / "registry.crt";
    auto key = dir_ / "registry.key";
    make_self_signed(cert, key);
    config += "  tls:\n    certificate: " + cert.string() + "\n    key: " + key.string() + "\n";
    fs::create_directories(certs_dir() / host());
    fs::copy_file(cert, certs_dir() / host() / "ca.crt");
  }
  if (!opts_.user.empty()) {
    auto r = run({"htpasswd", "-Bbn", opts_.user, opts_.password});
    REQUIRE(r.exit_code == 0);
    write_file(dir_ / "htpasswd", r.output);
    config +=
        "auth:\n  htpasswd:\n    realm: berth-test\n    path: " + (dir_ / "htpasswd").string() +
        "\n";
  } else if (opts_.token) {
    config += "auth:\n  token:\n    realm: " + opts_.token->realm() +
              "\n    service: " + opts_.token->service() +
              "\n    issuer: " + opts_.token->issuer() +
              "\n    rootcertbundle: " + opts_.token->certificate().string() + "\n";
  }
  write_file(dir_ / "config.yml", config);
  os::unique_fd log{
      ::open((dir_ / "registry.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  os::spawn_options so;
  so.stdout_fd = log.get();
  so.stderr_fd = log.get();
  pid_ = os::spawn({"docker-registry", "serve", (dir_ / "config.yml").string()}, so);
  for (int i = 0; i < 500; ++i) {
    int fd = connect_loopback(port_);
    if (fd >= 0) {
      ::close(fd);
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
  FAIL("docker-registry did not start: " + read_file(dir_ / "registry.log"));
}

registry_server::~registry_server() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    os::wait_exit(pid_);
  }
}

fs::path registry_server::blob_path(std::string_view digest) const {
  auto hex = std::string{digest_hex(digest)};
  return dir_ / "storage" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hex.substr(0, 2) /
         hex / "data";
}

void registry_server::push(const fs::path& layout, const std::string& name_tag,
                           std::vector<std::string> extra) const {
  std::vector<std::string> argv{"skopeo", "copy", "--quiet"};
  if (opts_.tls)
    argv.push_back("--dest-cert-dir=" + (certs_dir() / host()).string());
  else
    argv.push_back("--dest-tls-verify=false");
  if (!opts_.user.empty()) argv.push_back("--dest-creds=" + opts_.user + ":" + opts_.password);
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("oci:" + layout.string() + ":latest");
  argv.push_back("docker://" + host() + "/" + name_tag);
  auto r = run(argv);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

// -- fault_proxy ----------------------------------------------------------------------------------

fault_proxy::fault_proxy(uint16_t upstream) : upstream_(upstream) {
  listen_fd_ = listen_on_loopback(port_);
  thread_ = std::thread{[this] { serve(); }};
}

fault_proxy::~fault_proxy() {
  stop_ = true;
  thread_.join();
  for (auto& t : workers_) t.join();
  ::close(listen_fd_);
}

std::vector<seen_request> fault_proxy::requests() const {
  std::lock_guard<std::mutex> guard{m_};
  return seen_;
}

size_t fault_proxy::count(std::string_view method, std::string_view needle) const {
  std::lock_guard<std::mutex> guard{m_};
  size_t n = 0;
  for (auto& r : seen_)
    if (r.method == method && r.target.find(needle) != std::string::npos) ++n;
  return n;
}

void fault_proxy::serve() {
  while (!stop_) {
    int c = accept_some(listen_fd_);
    if (c < 0) continue;
    workers_.emplace_back([this, c] {
      handle(c);
      ::close(c);
    });
  }
}

namespace {

// Takes one from `n` if it is positive.
bool take(std::atomic<int>& n) {
  int v = n.load();
  while (v > 0)
    if (n.compare_exchange_weak(v, v - 1)) return true;
  return false;
}

}  // namespace

void fault_proxy::handle(int client) {
  seen_request req;
  std::string head, body;
  if (!read_request(client, req, head, body)) return;
  {
    std::lock_guard<std::mutex> guard{m_};
    seen_.push_back(req);
  }
  if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
  bool blob_get = req.method == "GET" && req.target.find("/blobs/sha256:") != std::string::npos &&
                  (only_digest.empty() || req.target.find(only_digest) != std::string::npos);
  if (blob_get && take(fail_500)) {
    send_all(client,
             http_response_text(500, R"({"errors":[{"code":"UNKNOWN","message":"injected"}]})"));
    return;
  }
  if (blob_get && !redirect_base.empty()) {
    auto digest = req.target.substr(req.target.find("/blobs/") + 7);
    send_all(client, http_response_text(307, "", {"Location: " + redirect_base + "/" + digest}));
    return;
  }
  bool drop_this = blob_get && take(drop);
  bool corrupt_this = blob_get && !drop_this && take(corrupt);
  // Forward with Connection: close, so that the upstream response ends with the connection.
  std::string out;
  size_t line_end = head.find("\r\n");
  out = head.substr(0, line_end + 2);
  size_t pos = line_end + 2;
  while (pos < head.size()) {
    auto e = head.find("\r\n", pos);
    if (e == pos) break;
    auto line = head.substr(pos, e - pos);
    if (lower(line.substr(0, 11)) != "connection:") out += line + "\r\n";
    pos = e + 2;
  }
  out += "Connection: close\r\n\r\n" + body;
  int up = connect_loopback(upstream_);
  if (up < 0) return;
  send_all(up, out);
  std::string resp;
  char chunk[65536];
  size_t header_end = std::string::npos;
  size_t forwarded = 0;
  for (;;) {
    auto n = ::recv(up, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    resp.append(chunk, static_cast<size_t>(n));
    if (header_end == std::string::npos) {
      auto e = resp.find("\r\n\r\n");
      if (e == std::string::npos) continue;
      header_end = e + 4;
    }
    if (drop_this && resp.size() >= header_end + drop_after) {
      send_all(client,
               std::string_view{resp}.substr(forwarded, header_end + drop_after - forwarded));
      ::close(up);
      return;  // the client sees the connection end mid-body
    }
    if (corrupt_this && resp.size() > header_end + 10) {
      resp[header_end + 10] ^= 0x55;
      corrupt_this = false;
    }
    if (!drop_this && !corrupt_this && header_end != std::string::npos) {
      if (!send_all(client, std::string_view{resp}.substr(forwarded))) break;
      forwarded = resp.size();
    }
  }
  if (forwarded < resp.size()) send_all(client, std::string_view{resp}.substr(forwarded));
  ::close(up);
}

void build_registry_fixtures(const fs::path& dir) {
  auto script = fs::path{BERTH_TEST_SOURCE_DIR} / "scripts" / "fixtures" / "registry-images.sh";
  auto result = run({"sh", script.string(), dir.string()});
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
}

}  // namespace berth::image::test
