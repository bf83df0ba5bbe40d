// http.cpp: libcurl easy transfers with bounded in-memory bodies, streaming sinks, TLS settings
// (system CAs plus extra CA files, client certificates) and classified transport failures.
#include "http.hpp"

#include "util.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <mutex>
#include <optional>

namespace berth::image::detail {

namespace {

std::once_flag curl_init_once;

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// Largest header block kept per response (a hostile server could send endless headers).
constexpr size_t max_header_bytes = 256 * 1024;

struct transfer {
  const http_request* req = nullptr;
  http_response resp;
  size_t header_bytes = 0;
  std::optional<caf::error> failure;  // set by a callback that stopped the transfer
  size_t body_offset = 0;             // bytes of req->body already sent
  uint64_t fd_sent = 0;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  size_t len = size * n;
  t->header_bytes += len;
  if (t->header_bytes > max_header_bytes) {
    t->failure = make_error(errc::protocol, "the server sent more than 256 KiB of headers");
    return 0;
  }
  std::string_view line{data, len};
  if (line.substr(0, 5) == "HTTP/") {
    // A new response (after a redirect or a 100 Continue): forget the previous one's headers.
    t->resp.headers.clear();
    t->resp.body.clear();
    t->header_bytes = len;
    auto sp = line.find(' ');
    t->resp.status =
        sp == std::string_view::npos ? 0 : std::atol(std::string{line.substr(sp + 1, 3)}.c_str());
    return len;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    t->resp.headers.emplace(lower(trim(line.substr(0, colon))),
                            std::string{trim(line.substr(colon + 1))});
  return len;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  size_t len = size * n;
  auto status = t->resp.status;
  if (status >= 300 && status < 400 && t->req->follow_redirects) return len;
  if (status >= 200 && status < 300 && t->req->sink) {
    try {
      if (auto ok = t->req->sink(t->resp, data, len); !ok) {
        t->failure = ok.error();
        return 0;
      }
    } catch (const std::exception& e) {
      t->failure = make_error(errc::internal, fmt::format("body sink failed: {}", e.what()));
      return 0;
    }
    return len;
  }
  if (t->resp.body.size() + len > t->req->max_body) {
    if (status >= 200 && status < 300) {
      t->failure =
          make_error(errc::invalid_argument,
                     fmt::format("the response from {} is larger than the limit of {} bytes",
                                 t->req->url, t->req->max_body));
      return 0;
    }
    // Only the start of an error page matters.
    t->resp.body.append(data, std::min(len, t->req->max_body - t->resp.body.size()));
    return len;
  }
  t->resp.body.append(data, len);
  return len;
}

size_t on_read(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  size_t room = size * n;
  if (t->req->body_fd >= 0) {
    auto left = t->req->body_size - t->fd_sent;
    if (left == 0) return 0;
    auto got = read_some(t->req->body_fd, buffer, std::min<uint64_t>(room, left));
    if (got < 0) {
      t->failure =
          make_error(errc::io, fmt::format("cannot read the upload: {}", error_text(errno)));
      return CURL_READFUNC_ABORT;
    }
    if (got == 0) {
      t->failure = make_error(errc::io, "the upload file ended early");
      return CURL_READFUNC_ABORT;
    }
    t->fd_sent += static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }
  auto left = t->req->body.size() - t->body_offset;
  auto take = std::min(room, left);
  std::memcpy(buffer, t->req->body.data() + t->body_offset, take);
  t->body_offset += take;
  return take;
}

int on_xfer(void* user, curl_off_t, curl_off_t now_down, curl_off_t, curl_off_t now_up) {
  auto* t = static_cast<transfer*>(user);
  if (t->req->on_progress &&
      t->req->on_progress(static_cast<uint64_t>(now_down), static_cast<uint64_t>(now_up))) {
    t->failure = make_error(errc::cancelled, "cancelled");
    return 1;
  }
  return 0;
}

// Adds the extra CA files to the store libcurl built from the system's CAs.
CURLcode on_ssl_ctx(CURL*, void* ssl_ctx, void* user) {
  auto* tls = static_cast<const tls_config*>(user);
  auto* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  for (const auto& ca : tls->cas)
    if (X509_STORE_load_file(store, ca.c_str()) != 1) return CURLE_SSL_CACERT_BADFILE;
  return CURLE_OK;
}

transport_failure classify(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return transport_failure::retryable;
    case CURLE_PEER_FAILED_VERIFICATION:
      return transport_failure::certificate;
    case CURLE_SSL_CONNECT_ERROR:
      return transport_failure::tls;
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
      return transport_failure::aborted;
    default:
      return transport_failure::other;
  }
}

// The host:port part of a URL, for messages.
std::string host_of(std::string_view url) {
  auto start = url.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  auto end = url.find('/', start);
  return std::string{
      url.substr(start, end == std::string_view::npos ? url.size() - start : end - start)};
}

}  // namespace

std::string http_head::header(std::string_view name) const {
  auto i = headers.find(std::string{name});
  return i == headers.end() ? std::string{} : i->second;
}

http_session::http_session(http_limits limits) : limits_(std::move(limits)) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  if (curl_ == nullptr) throw std::bad_alloc{};
}

http_session::~http_session() {
  curl_easy_cleanup(curl_);
}

caf::expected<http_response> http_session::perform(const http_request& req, const tls_config& tls,
                                                   transport_error* failure) {
  transfer t;
  t.req = &req;
  char errbuf[CURL_ERROR_SIZE] = {0};
  // reset keeps the connection cache, the point of reusing the handle.
  curl_easy_reset(curl_);
  auto* h = curl_;
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR,
                   req.url.rfind("https:", 0) == 0 ? "https" : "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, limits_.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, static_cast<long>(limits_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(limits_.stall_timeout.count()));
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xfer);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  // Blobs are compressed already; let the server not compress them again.
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, nullptr);
  if (tls.verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!tls.cas.empty()) {
      curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
      curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, &tls);
    }
  } else {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!tls.client_cert.empty()) {
    curl_easy_setopt(h, CURLOPT_SSLCERT, tls.client_cert.c_str());
    curl_easy_setopt(h, CURLOPT_SSLKEY, tls.client_key.c_str());
  }
  curl_slist* headers = nullptr;
  for (const auto& x : req.headers) headers = curl_slist_append(headers, x.c_str());
  if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.method == "PUT" || req.method == "POST" || req.method == "PATCH") {
    uint64_t size = req.body_fd >= 0 ? req.body_size : req.body.size();
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
    if (req.method != "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    // No "Expect: 100-continue" round trip.
    headers = curl_slist_append(headers, "Expect:");
  } else if (req.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  auto code = curl_easy_perform(h);
  curl_slist_free_all(headers);
  char* effective = nullptr;
  curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &effective);
  if (effective != nullptr) t.resp.effective_url = effective;
  if (code != CURLE_OK) {
    auto kind = classify(code);
    caf::error err;
    if (t.failure) {
      kind = transport_failure::aborted;
      err = *t.failure;
    } else {
      std::string detail = errbuf[0] != '\0' ? std::string{errbuf} : curl_easy_strerror(code);
      while (!detail.empty() && detail.back() == '\n') detail.pop_back();
      auto host = host_of(t.resp.effective_url.empty() ? req.url : t.resp.effective_url);
      if (kind == transport_failure::certificate)
        err = make_error(errc::untrusted,
                         fmt::format("x509: the certificate of {} is not trusted ({}); put its CA "
                                     "in the registry's certs.d directory or mark it insecure",
                                     host, detail));
      else
        err = make_error(errc::unavailable, fmt::format("{} {}: {}", req.method, req.url, detail));
    }
    if (failure) *failure = transport_error{kind, err};
    return err;
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  t.resp.status = status;
  if (failure) *failure = {};
  return std::move(t.resp);
}

std::string url_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out.push_back(static_cast<char>(c));
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(bytes.data()),
                           static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

caf::expected<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > (1u << 20))
    return make_error(errc::invalid_argument, "malformed base64");
  std::string out(3 * text.size() / 4 + 1, '\0');
  auto n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(text.data()),
                           static_cast<int>(text.size()));
  if (n < 0) return make_error(errc::invalid_argument, "malformed base64");
  // EVP_DecodeBlock counts padding as zero bytes.
  size_t len = static_cast<size_t>(n);
  for (size_t i = text.size(); i > 0 && text[i - 1] == '=' && len > 0; --i) --len;
  out.resize(len);
  return out;
}

}  // namespace berth::image::detail
