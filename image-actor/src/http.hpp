// http: one HTTP(S) connection cache over libcurl's easy interface, for the registry client.
//
// A session owns one CURL easy handle (so connections are kept alive between requests) and is
// used by one thread at a time. It knows nothing of registries: TLS settings come from a
// tls_config, authentication headers from the caller. Response bodies either go to memory
// (bounded) or stream to a sink the caller gives; redirects are followed by libcurl, which never
// sends an Authorization header to another host or port than the one first asked.
#pragma once

#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

typedef void CURL;

namespace berth::image::detail {

/// How to trust a registry's TLS endpoint.
struct tls_config {
  bool verify = true;                      ///< Check the certificate chain and host name.
  std::vector<std::filesystem::path> cas;  ///< CA files trusted on top of the system's.
  std::filesystem::path client_cert;       ///< Client certificate (PEM), if any.
  std::filesystem::path client_key;        ///< Its key (PEM).
};

/// Response headers and status, known before the first body byte.
struct http_head {
  long status = 0;
  std::multimap<std::string, std::string> headers;  ///< Names lowercased.
  std::string effective_url;                        ///< After redirects.

  /// The first header named `name` (lowercase), or empty.
  std::string header(std::string_view name) const;
};

/// A complete response: head and (for in-memory requests) body.
struct http_response : http_head {
  std::string body;
};

/// Receives body bytes of a 2xx response; an error aborts the transfer with that error.
using body_sink = std::function<caf::expected<void>(const http_head&, const char*, size_t)>;

/// What to send.
struct http_request {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  ///< "Name: value".
  std::string_view body;             ///< Request body from memory.
  int body_fd = -1;                  ///< Or from a file (read from its current offset).
  uint64_t body_size = 0;            ///< Bytes of body_fd to send.
  uint64_t max_body = 4 << 20;       ///< Largest in-memory response body kept.
  body_sink sink;                    ///< Streams a 2xx body here instead of into memory.
  bool follow_redirects = true;
  /// Called while data moves (bytes received, bytes sent); true aborts the transfer.
  std::function<bool(uint64_t, uint64_t)> on_progress;
};

/// Limits of a session.
struct http_limits {
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds stall_timeout{60};  ///< Abort if no byte moves for this long.
  std::string user_agent = "berth";
};

/// Why a transfer failed below HTTP.
enum class transport_failure {
  none,
  retryable,    ///< Connection refused, dropped, reset, timed out: try again.
  certificate,  ///< The peer's certificate is not trusted.
  tls,          ///< Another TLS failure (also what plain HTTP spoken to HTTPS gives).
  aborted,      ///< The sink or progress callback stopped it.
  other,
};

/// A transfer failure with its class.
struct transport_error {
  transport_failure kind = transport_failure::none;
  caf::error error;
};

/// One keep-alive connection cache; one thread at a time.
class http_session {
 public:
  explicit http_session(http_limits limits = {});
  ~http_session();
  http_session(const http_session&) = delete;
  http_session& operator=(const http_session&) = delete;

  /// Performs `req` with `tls`; a transport_error if no complete response arrived (HTTP
  /// error statuses are responses, not errors).
  caf::expected<http_response> perform(const http_request& req, const tls_config& tls,
                                       transport_error* failure = nullptr);

 private:
  CURL* curl_ = nullptr;
  http_limits limits_;
};

/// Percent-encodes `text` for a URL query value.
std::string url_encode(std::string_view text);

/// Base64 of `bytes` (standard alphabet, padded).
std::string base64_encode(std::string_view bytes);

/// Decodes standard base64; nullopt-like empty expected on malformed input.
caf::expected<std::string> base64_decode(std::string_view text);

}  // namespace berth::image::detail
