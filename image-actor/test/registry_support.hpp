// registry_support: what the registry tests run against: real docker-registry processes on
// 127.0.0.1 (plain, TLS with htpasswd, token auth), a token server issuing RS256 JWTs, small
// HTTP stubs, a fault-injecting proxy, and skopeo pushes of the fixture images. Everything it
// starts it stops (by pid or by joining its threads) and every directory it makes it deletes.
#pragma once

#include "support.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace berth::image::test {

/// A TCP port on 127.0.0.1 that was free a moment ago.
uint16_t free_port();

/// A request an HTTP stub or the proxy saw.
struct seen_request {
  std::string method;
  std::string target;                          ///< Path and query.
  std::map<std::string, std::string> headers;  ///< Lowercased names.
};

/// A small HTTP/1.1 server on 127.0.0.1 answering with `handler` (one request per connection).
class http_stub {
 public:
  /// Answers a request with a whole response ("HTTP/1.1 200 OK\r\n...").
  using handler = std::function<std::string(const seen_request&)>;

  explicit http_stub(handler h);
  ~http_stub();
  http_stub(const http_stub&) = delete;
  http_stub& operator=(const http_stub&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  /// Every request so far.
  std::vector<seen_request> requests() const;

 private:
  void serve();

  handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex m_;
  std::vector<seen_request> seen_;
  std::thread thread_;
};

/// A response with a body.
std::string http_response_text(int status, std::string_view body,
                               std::vector<std::string> headers = {});

/// A token server for docker-registry's token auth: issues RS256 JWTs signed with a fresh key
/// whose self-signed certificate is the registry's rootcertbundle. Anonymous clients get only
/// pull; `user:password` gets every action asked for; wrong credentials get 401.
class token_server {
 public:
  token_server(const fs::path& dir, std::string service, std::string user, std::string password);

  std::string realm() const { return stub_->url() + "/token"; }
  const std::string& service() const { return service_; }
  const std::string& issuer() const { return issuer_; }
  const fs::path& certificate() const { return cert_; }
  std::vector<seen_request> requests() const { return stub_->requests(); }

 private:
  std::string issue(const seen_request& req, int& status);

  std::string service_;
  std::string issuer_ = "berth-test-issuer";
  std::string user_;
  std::string password_;
  fs::path cert_;
  fs::path key_;
  std::string kid_;
  std::unique_ptr<http_stub> stub_;
};

/// A docker-registry process on 127.0.0.1 with filesystem storage in a temporary directory.
class registry_server {
 public:
  struct options {
    bool tls = false;  ///< Serve HTTPS with a self-signed certificate.
    std::string user;  ///< With password: htpasswd basic auth.
    std::string password;
    const token_server* token = nullptr;  ///< Token auth through this server.
  };

  explicit registry_server(options opts);
  registry_server() : registry_server(options{}) {}
  ~registry_server();
  registry_server(const registry_server&) = delete;
  registry_server& operator=(const registry_server&) = delete;

  uint16_t port() const { return port_; }
  /// "127.0.0.1:PORT".
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  /// A certs.d directory that trusts this registry's certificate (TLS only).
  fs::path certs_dir() const { return dir_ / "certs.d"; }
  /// Where the registry keeps the blob `digest`.
  fs::path blob_path(std::string_view digest) const;

  /// Pushes the OCI layout `layout` (tag latest) as NAME:TAG with skopeo; `extra` are more
  /// skopeo copy flags (--all, --format v2s2). Fails the test if skopeo fails.
  void push(const fs::path& layout, const std::string& name_tag,
            std::vector<std::string> extra = {}) const;

 private:
  options opts_;
  temp_dir dir_holder_;
  fs::path dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

/// A TCP proxy in front of a registry that injects faults into blob GETs: answers 500, drops
/// the connection after some body bytes, flips a byte, or redirects elsewhere. Every
/// connection carries one request (it asks upstream to close), so each fault hits exactly one.
class fault_proxy {
 public:
  explicit fault_proxy(uint16_t upstream);
  ~fault_proxy();
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  uint16_t port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

  std::atomic<int> fail_500{0};  ///< Answer the next N blob GETs with 500.
  std::atomic<int> drop{0};      ///< Drop the next N blob GETs after drop_after body bytes.
  std::atomic<size_t> drop_after{4096};
  std::atomic<int> corrupt{0};   ///< Flip a byte of the next N blob bodies.
  std::string only_digest;       ///< Faults only for this blob (set before use).
  std::string redirect_base;     ///< If set: blob GETs get 307 to REDIRECT_BASE/<digest>.
  std::atomic<int> delay_ms{0};  ///< Wait this long before forwarding each request.

  /// Every request so far.
  std::vector<seen_request> requests() const;

  /// How many requests had a target containing `needle`.
  size_t count(std::string_view method, std::string_view needle) const;

 private:
  void serve();
  void handle(int client);

  uint16_t upstream_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex m_;
  std::vector<seen_request> seen_;
  std::vector<std::thread> workers_;
  std::thread thread_;
};

/// Builds scripts/fixtures/registry-images.sh into `dir` (layered-oci, multiarch-oci).
void build_registry_fixtures(const fs::path& dir);

}  // namespace berth::image::test
