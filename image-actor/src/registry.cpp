// registry.cpp: the distribution API client: authentication challenges, retries with backoff and
// Range resume, verified manifests and blobs, parallel layer downloads, monolithic uploads.
#include "berth/image/registry.hpp"

#include "berth/image/digest.hpp"
#include "berth/image/log.hpp"
#include "berth/image/manifest.hpp"
#include "http.hpp"
#include "util.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace berth::image {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using detail::http_request;
using detail::http_response;
using detail::http_session;
using detail::invalid;
using detail::transport_error;
using detail::transport_failure;
using detail::with_context;
using steady = std::chrono::steady_clock;

namespace {

namespace mt = media_type;

// Every manifest type berth reads, most specific first, for the Accept header. Without them the
// distribution registry answers 404 for OCI manifests and converts Docker ones to schema 1.
const std::string accept_manifests =
    fmt::format("Accept: {}, {}, {}, {}", mt::oci_index, mt::docker_manifest_list, mt::oci_manifest,
                mt::docker_manifest);

// Largest error or token response read.
constexpr uint64_t max_small_response = 64 * 1024;

std::string short_id(std::string_view digest) {
  return std::string{digest_hex(digest).substr(0, 12)};
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// -- WWW-Authenticate ---------------------------------------------------------------------------

struct challenge {
  std::string scheme;  // "bearer" or "basic"
  std::map<std::string, std::string> params;
};

// Parses `Scheme k="v", k2=v2`; quoted values may hold commas and escaped quotes.
std::optional<challenge> parse_challenge(std::string_view h) {
  size_t i = 0;
  auto skip = [&](std::string_view set) {
    while (i < h.size() && set.find(h[i]) != std::string_view::npos) ++i;
  };
  skip(" \t");
  auto start = i;
  while (i < h.size() && h[i] != ' ' && h[i] != '\t') ++i;
  if (i == start) return std::nullopt;
  challenge c;
  c.scheme = lower(h.substr(start, i - start));
  for (;;) {
    skip(" \t,");
    if (i >= h.size()) break;
    auto key_start = i;
    while (i < h.size() && h[i] != '=' && h[i] != ',') ++i;
    if (i >= h.size() || h[i] != '=') break;
    auto key = lower(h.substr(key_start, i - key_start));
    while (!key.empty() && key.back() == ' ') key.pop_back();
    ++i;
    skip(" \t");
    std::string value;
    if (i < h.size() && h[i] == '"') {
      ++i;
      while (i < h.size() && h[i] != '"') {
        if (h[i] == '\\' && i + 1 < h.size()) ++i;
        value.push_back(h[i++]);
      }
      ++i;
    } else {
      while (i < h.size() && h[i] != ',') value.push_back(h[i++]);
      while (!value.empty() && value.back() == ' ') value.pop_back();
    }
    c.params[key] = value;
  }
  return c;
}

// The registry's error document: "CODE: message" of its first error, if it sent one.
struct registry_error {
  std::string code;
  std::string message;
};

registry_error error_of(const http_response& r) {
  registry_error out;
  auto j = detail::parse_json(r.body, max_small_response, "error");
  if (j && j->is_object()) {
    auto errs = j->find("errors");
    if (errs != j->end() && errs->is_array() && !errs->empty() && (*errs)[0].is_object()) {
      auto& e = (*errs)[0];
      if (auto c = e.find("code"); c != e.end() && c->is_string()) out.code = c->get<std::string>();
      if (auto m = e.find("message"); m != e.end() && m->is_string())
        out.message = m->get<std::string>().substr(0, 300);
    }
  }
  return out;
}

std::string status_text(const http_response& r) {
  auto e = error_of(r);
  if (!e.code.empty()) return fmt::format("{} {}: {}", r.status, e.code, e.message);
  return fmt::format("HTTP status {}", r.status);
}

// Host and port of an absolute URL.
std::string authority_of(std::string_view url) {
  auto start = url.find("://");
  if (start == std::string_view::npos) return {};
  start += 3;
  auto end = url.find_first_of("/?#", start);
  return lower(url.substr(start, end == std::string_view::npos ? url.size() - start : end - start));
}

bool is_loopback(std::string_view host) {
  if (host == "localhost" || host == "[::1]" || host == "::1") return true;
  in_addr a{};
  std::string h{host};
  if (::inet_pton(AF_INET, h.c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

// The host of "host[:port]" ("[v6]:port" too).
std::string host_part(std::string_view domain) {
  if (!domain.empty() && domain.front() == '[') {
    auto close = domain.find(']');
    return std::string{
        domain.substr(0, close == std::string_view::npos ? domain.size() : close + 1)};
  }
  return std::string{domain.substr(0, domain.find(':'))};
}

caf::error cancelled_error() {
  return make_error(errc::cancelled, "cancelled");
}

// Sleeps `d`, waking early (false) if the operation is cancelled.
bool sleep_unless_cancelled(std::chrono::milliseconds d, const std::atomic<bool>* cancel) {
  auto until = steady::now() + d;
  while (steady::now() < until) {
    if (cancel && cancel->load()) return false;
    std::this_thread::sleep_for(std::min<steady::duration>(until - steady::now(), 20ms));
  }
  return !(cancel && cancel->load());
}

// -- the client -----------------------------------------------------------------------------------

// One registry: its scheme, TLS settings, login and cached tokens. Shared by a pull's threads.
class client {
 public:
  client(std::string domain, const registry_options& opts,
         std::optional<credential> forced = std::nullopt)
      : domain_(std::move(domain)), opts_(opts), api_host_(registry_api_host(domain_)) {
    insecure_ = is_insecure_registry(opts_, domain_);
    if (forced)
      creds_ = std::move(forced);
    else if (opts_.credentials)
      creds_ = opts_.credentials(domain_);
    tls_ = tls_for(domain_);
    limits_.connect_timeout = opts_.connect_timeout;
    limits_.stall_timeout = opts_.stall_timeout;
    limits_.user_agent = "berth/0.1";
  }

  const std::string& domain() const { return domain_; }
  const detail::http_limits& limits() const { return limits_; }

  // "https://host" or, for insecure registries that do not speak TLS, "http://host".
  caf::expected<std::string> base(http_session& s, const std::atomic<bool>* cancel) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (!scheme_.empty()) return scheme_ + "://" + api_host_;
    }
    std::string scheme = "https";
    if (insecure_) {
      // Docker's order for insecure registries: HTTPS (any certificate) first, then HTTP.
      http_request ping;
      ping.url = "https://" + api_host_ + "/v2/";
      ping.max_body = max_small_response;
      ping.on_progress = [cancel](uint64_t, uint64_t) { return cancel && cancel->load(); };
      auto r = s.perform(ping, tls_);
      if (!r) {
        if (cancel && cancel->load()) return cancelled_error();
        scheme = "http";
        image_log.debug("registry={} does not speak HTTPS ({}); using plain HTTP", domain_,
                        describe(r.error()));
      }
    }
    std::lock_guard<std::mutex> guard{mutex_};
    scheme_ = scheme;
    return scheme_ + "://" + api_host_;
  }

  // Sends `req` (url: a path under the registry, or an absolute URL it gave) with authentication
  // for `scope`, retrying dropped connections, 5xx and 429 with backoff. `before` adjusts each
  // attempt (Range headers, rewinding an upload); `on_retry` hears of each retry.
  caf::expected<http_response> send(http_session& s, const http_request& req,
                                    const std::string& scope, const std::atomic<bool>* cancel,
                                    const std::function<void(http_request&)>& before = {},
                                    const std::function<void()>& on_retry = {}) {
    auto base_url = base(s, cancel);
    if (!base_url) return base_url.error();
    bool absolute = req.url.rfind("http://", 0) == 0 || req.url.rfind("https://", 0) == 0;
    auto url = absolute ? req.url : *base_url + req.url;
    bool same_host = authority_of(url) == lower(api_host_);
    int attempt = 0;
    bool auth_retried = false;
    for (;;) {
      if (cancel && cancel->load()) return cancelled_error();
      http_request r = req;
      r.url = url;
      auto user_progress = req.on_progress;
      r.on_progress = [cancel, user_progress](uint64_t down, uint64_t up) {
        if (cancel && cancel->load()) return true;
        return user_progress ? user_progress(down, up) : false;
      };
      if (before) before(r);
      if (same_host) {
        auto auth = authorization(s, scope, cancel);
        if (!auth) return auth.error();
        if (!auth->empty()) r.headers.push_back("Authorization: " + *auth);
      }
      transport_error te;
      auto resp = s.perform(r, tls_, &te);
      if (!resp) {
        if (cancel && cancel->load()) return cancelled_error();
        if (te.kind == transport_failure::retryable && ++attempt < opts_.max_attempts) {
          image_log.debug("registry={} {} {}: {}; retry {}", domain_, req.method, url,
                          describe(te.error), attempt);
          if (on_retry) on_retry();
          if (!sleep_unless_cancelled(backoff(attempt), cancel)) return cancelled_error();
          continue;
        }
        return resp.error();
      }
      if (resp->status == 401 && same_host) {
        if (auth_retried) return auth_failure(*resp, scope);
        auth_retried = true;
        auto handled = on_challenge(s, *resp, scope, cancel);
        if (!handled) return handled.error();
        continue;
      }
      if (resp->status == 403) return denied(*resp, scope);
      if ((resp->status >= 500 || resp->status == 429) && ++attempt < opts_.max_attempts) {
        image_log.debug("registry={} {} {}: status {}; retry {}", domain_, req.method, url,
                        resp->status, attempt);
        if (on_retry) on_retry();
        if (!sleep_unless_cancelled(backoff(attempt), cancel)) return cancelled_error();
        continue;
      }
      if (resp->status >= 500 || resp->status == 429)
        return make_error(errc::unavailable, fmt::format("{} {}: {} after {} tries", req.method,
                                                         url, status_text(*resp), attempt));
      return resp;
    }
  }

  // Checks the login: the /v2/ endpoint with the credentials, through its challenge.
  caf::expected<void> check(http_session& s) {
    http_request ping;
    ping.url = "/v2/";
    ping.max_body = max_small_response;
    auto r = send(s, ping, "", nullptr);
    if (!r) return r.error();
    // A registry that needs no login accepts any; Docker says "Login Succeeded" then too.
    if (r->status >= 200 && r->status < 300) return {};
    return make_error(errc::unavailable,
                      fmt::format("{}: /v2/ answered {}", domain_, status_text(*r)));
  }

 private:
  detail::tls_config tls_for(const std::string& domain) const {
    detail::tls_config tls;
    tls.verify = !insecure_;
    std::error_code ec;
    std::vector<fs::path> dirs{opts_.certs_dir / domain};
    if (api_host_ != domain) dirs.push_back(opts_.certs_dir / api_host_);
    for (const auto& dir : dirs) {
      std::vector<fs::path> files;
      for (fs::directory_iterator i{dir, ec}, end; !ec && i != end; i.increment(ec))
        files.push_back(i->path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (f.extension() == ".crt")
          tls.cas.push_back(f);
        else if (f.extension() == ".cert" && tls.client_cert.empty()) {
          auto key = f;
          key.replace_extension(".key");
          if (fs::exists(key, ec)) {
            tls.client_cert = f;
            tls.client_key = key;
          }
        }
      }
    }
    return tls;
  }

  std::chrono::milliseconds backoff(int attempt) const {
    auto factor = 1 << std::min(attempt - 1, 4);
    return opts_.backoff * factor;
  }

  // The Authorization value for `scope` ("" if none is known to be needed).
  caf::expected<std::string> authorization(http_session& s, const std::string& scope,
                                           const std::atomic<bool>* cancel) {
    std::optional<challenge> ch;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (basic_ && creds_)
        return "Basic " + detail::base64_encode(creds_->username + ":" + creds_->password);
      if (!bearer_) return std::string{};
      auto i = tokens_.find(scope);
      if (i != tokens_.end() && i->second.second > steady::now())
        return "Bearer " + i->second.first;
      ch = bearer_;
    }
    // The registry asked for tokens before: get one for this scope without a 401 round trip.
    auto tok = fetch_token(s, *ch, scope, cancel);
    if (!tok) return tok.error();
    return "Bearer " + *tok;
  }

  caf::expected<void> on_challenge(http_session& s, const http_response& r,
                                   const std::string& scope, const std::atomic<bool>* cancel) {
    std::optional<challenge> bearer, basic;
    for (auto [i, end] = r.headers.equal_range("www-authenticate"); i != end; ++i) {
      auto c = parse_challenge(i->second);
      if (!c) continue;
      if (c->scheme == "bearer" && !bearer) bearer = c;
      if (c->scheme == "basic" && !basic) basic = c;
    }
    if (bearer) {
      {
        std::lock_guard<std::mutex> guard{mutex_};
        bearer_ = bearer;
        tokens_.erase(scope);
      }
      auto tok = fetch_token(s, *bearer, scope, cancel);
      if (!tok) return tok.error();
      return {};
    }
    if (basic) {
      if (!creds_) return required();
      std::lock_guard<std::mutex> guard{mutex_};
      basic_ = true;
      return {};
    }
    return make_error(errc::protocol,
                      fmt::format("{} answered 401 without a Basic or Bearer challenge", domain_));
  }

  caf::error required() const {
    return make_error(
        errc::unauthorized,
        fmt::format("unauthorized: authentication required (log in to {} first)", domain_));
  }

  caf::error refused() const {
    return make_error(errc::unauthorized, fmt::format("unauthorized: {} refused the login of '{}'",
                                                      domain_, creds_ ? creds_->username : ""));
  }

  caf::error auth_failure(const http_response& r, const std::string& scope) const {
    if (!creds_) {
      return make_error(
          errc::unauthorized,
          fmt::format("unauthorized: authentication required for {}{} (the repository "
                      "may not exist, or needs `berth login {}`)",
                      domain_, scope.empty() ? "" : " (" + scope + ")", domain_));
    }
    auto e = error_of(r);
    if (e.code == "UNAUTHORIZED" || e.code.empty()) return refused();
    return make_error(errc::unauthorized,
                      fmt::format("unauthorized: {} ({}): {}", domain_, scope, e.message));
  }

  caf::error denied(const http_response& r, const std::string& scope) const {
    auto e = error_of(r);
    return make_error(errc::invalid_argument,
                      fmt::format("denied: {} refused access to {}{}", domain_,
                                  scope.empty() ? "the registry" : scope,
                                  e.message.empty() ? "" : ": " + e.message));
  }

  // Asks the challenge's realm for a token for `scope` and caches it.
  caf::expected<std::string> fetch_token(http_session& s, const challenge& ch,
                                         const std::string& scope,
                                         const std::atomic<bool>* cancel) {
    auto realm = ch.params.count("realm") ? ch.params.at("realm") : std::string{};
    bool realm_https = realm.rfind("https://", 0) == 0;
    if (!realm_https && realm.rfind("http://", 0) != 0)
      return make_error(errc::protocol,
                        fmt::format("{} asked for a token from '{}', not an HTTP(S) URL", domain_,
                                    realm.substr(0, 200)));
    auto realm_host = authority_of(realm);
    if (!realm_https && !insecure_ && !is_insecure_registry(opts_, realm_host))
      return make_error(
          errc::protocol,
          fmt::format("{} asked for a token over plain HTTP from {}; mark it insecure "
                      "to allow that",
                      domain_, realm_host));
    std::vector<std::string> query;
    if (auto sv = ch.params.find("service"); sv != ch.params.end() && !sv->second.empty())
      query.push_back("service=" + detail::url_encode(sv->second));
    auto want = scope.empty() && ch.params.count("scope") ? ch.params.at("scope") : scope;
    if (!want.empty()) query.push_back("scope=" + detail::url_encode(want));
    if (creds_) query.push_back("account=" + detail::url_encode(creds_->username));
    http_request req;
    req.url = realm;
    for (size_t i = 0; i < query.size(); ++i)
      req.url += (i == 0 && realm.find('?') == std::string::npos ? "?" : "&") + query[i];
    req.max_body = max_small_response;
    req.on_progress = [cancel](uint64_t, uint64_t) { return cancel && cancel->load(); };
    if (creds_)
      req.headers.push_back("Authorization: Basic " +
                            detail::base64_encode(creds_->username + ":" + creds_->password));
    auto tls =
        realm_host == lower(api_host_) || realm_host == lower(domain_) ? tls_ : tls_for(realm_host);
    if (!realm_https) tls.verify = false;
    caf::expected<http_response> r = make_error(errc::internal, "no attempt");
    for (int attempt = 1;; ++attempt) {
      transport_error te;
      r = s.perform(req, tls, &te);
      bool retry = (!r && te.kind == transport_failure::retryable) ||
                   (r && (r->status >= 500 || r->status == 429));
      if (!retry || attempt >= opts_.max_attempts) break;
      if (!sleep_unless_cancelled(backoff(attempt), cancel)) return cancelled_error();
    }
    if (!r) {
      if (cancel && cancel->load()) return cancelled_error();
      return with_context(r.error(), fmt::format("token service of {}", domain_));
    }
    if (r->status == 401 || r->status == 403) return creds_ ? refused() : required();
    if (r->status != 200)
      return make_error(errc::unavailable,
                        fmt::format("token service of {} answered {}", domain_, status_text(*r)));
    auto j = detail::parse_json(r->body, max_small_response, "token response");
    if (!j || !j->is_object())
      return make_error(errc::protocol,
                        fmt::format("the token service of {} sent no JSON", domain_));
    std::string token;
    for (auto key : {"token", "access_token"})
      if (auto t = j->find(key);
          t != j->end() && t->is_string() && !t->get<std::string>().empty()) {
        token = t->get<std::string>();
        break;
      }
    if (token.empty() || token.size() > 32 * 1024 ||
        token.find_first_of("\r\n") != std::string::npos)
      return make_error(errc::protocol,
                        fmt::format("the token service of {} sent no token", domain_));
    int64_t expires = 60;
    if (auto e = j->find("expires_in"); e != j->end() && e->is_number_integer())
      expires = std::clamp<int64_t>(e->get<int64_t>(), 1, 24 * 3600);
    // Renew a little early so that a token never expires in flight.
    auto lifetime = std::chrono::seconds{expires > 20 ? expires - 10 : expires};
    std::lock_guard<std::mutex> guard{mutex_};
    tokens_[scope] = {token, steady::now() + lifetime};
    return token;
  }

  std::string domain_;
  const registry_options& opts_;
  std::string api_host_;
  bool insecure_ = false;
  std::optional<credential> creds_;
  detail::tls_config tls_;
  detail::http_limits limits_;
  std::mutex mutex_;
  std::string scheme_;
  bool basic_ = false;
  std::optional<challenge> bearer_;
  std::map<std::string, std::pair<std::string, steady::time_point>> tokens_;
};

// -- pulling --------------------------------------------------------------------------------------

caf::error status_error(const http_response& r, std::string_view what) {
  if (r.status == 404)
    return make_error(errc::not_found, fmt::format("{}: {}", what, status_text(r)));
  if (r.status >= 400 && r.status < 500)
    return make_error(errc::invalid_argument, fmt::format("{}: {}", what, status_text(r)));
  return make_error(errc::protocol, fmt::format("{}: unexpected {}", what, status_text(r)));
}

// Emits progress for one blob, at most every 100 ms while it moves.
class progress_emitter {
 public:
  progress_emitter(const progress_fn& fn, const descriptor& d)
      : fn_(fn), id_(short_id(d.digest)), total_(d.size) {}

  void emit(std::string_view status, uint64_t current, bool force = true) {
    if (!fn_) return;
    auto now = steady::now();
    if (!force && now - last_ < 100ms) return;
    last_ = now;
    api::progress p;
    p.id = id_;
    p.status = std::string{status};
    p.current = current;
    p.total = total_;
    fn_(p);
  }

 private:
  const progress_fn& fn_;
  std::string id_;
  uint64_t total_;
  steady::time_point last_{};
};

struct pull_context {
  client& c;
  const content_store& store;
  const reference& ref;
  const pull_options& po;
  const registry_options& opts;
  std::string scope;
};

// Downloads a blob into the store, resuming a broken transfer with a Range request.
caf::expected<void> fetch_blob(pull_context& ctx, http_session& s, const descriptor& d,
                               const std::atomic<bool>* cancel) {
  progress_emitter progress{ctx.po.progress, d};
  if (ctx.po.on_blob) ctx.po.on_blob(d.digest);
  if (ctx.store.contains(d.digest)) {
    progress.emit("exists", d.size);
    return {};
  }
  auto w = ctx.store.begin(d.digest, d.size);
  if (!w) return w.error();
  bool first_chunk = true;
  uint64_t resume_from = 0;
  http_request req;
  req.url = fmt::format("/v2/{}/blobs/{}", ctx.ref.path, d.digest);
  req.max_body = max_small_response;
  req.sink = [&](const detail::http_head& head, const char* data, size_t n) -> caf::expected<void> {
    if (first_chunk) {
      first_chunk = false;
      if (resume_from > 0) {
        if (head.status == 206) {
          auto range = head.header("content-range");
          if (range.rfind(fmt::format("bytes {}-", resume_from), 0) != 0)
            return make_error(errc::protocol, fmt::format("asked for bytes from {} and got '{}'",
                                                          resume_from, range.substr(0, 100)));
        } else {
          // The server ignored the Range header: start over.
          auto fresh = ctx.store.begin(d.digest, d.size);
          if (!fresh) return fresh.error();
          *w = std::move(*fresh);
        }
      } else if (head.status == 206) {
        return make_error(errc::protocol, "partial content without a Range request");
      }
    }
    if (auto ok = w->write(data, n); !ok) return ok.error();
    progress.emit("downloading", w->written(), false);
    return {};
  };
  auto before = [&](http_request& r) {
    first_chunk = true;
    resume_from = w->written();
    if (resume_from > 0) r.headers.push_back(fmt::format("Range: bytes={}-", resume_from));
  };
  auto on_retry = [&] { progress.emit("retrying", w->written()); };
  progress.emit("downloading", 0);
  auto r = ctx.c.send(s, req, ctx.scope, cancel, before, on_retry);
  if (!r) return r.error();
  if (r->status < 200 || r->status >= 300)
    return status_error(*r, r->status == 404 ? "blob unknown to the registry" : "blob");
  progress.emit("verifying", w->written());
  if (auto ok = w->commit(); !ok) {
    auto text = describe(ok.error());
    if (code_of(ok.error()) == errc::invalid_argument)
      return make_error(errc::protocol, fmt::format("the registry sent a bad blob: {}", text));
    return ok.error();
  }
  progress.emit("done", d.size);
  if (ctx.po.after_blob) ctx.po.after_blob(d.digest);
  return {};
}

struct fetched_manifest {
  std::string body;
  std::string media_type;
  std::string digest;
};

caf::expected<fetched_manifest> get_manifest(pull_context& ctx, http_session& s,
                                             std::string_view reference_text,
                                             std::string_view expect_digest) {
  http_request req;
  req.url = fmt::format("/v2/{}/manifests/{}", ctx.ref.path, reference_text);
  req.headers.push_back(accept_manifests);
  req.max_body = max_manifest_bytes;
  auto r = ctx.c.send(s, req, ctx.scope, ctx.po.cancel);
  if (!r) return r.error();
  auto what = fmt::format("{}/{}:{}", ctx.c.domain(), ctx.ref.path, reference_text);
  if (r->status == 404) {
    auto e = error_of(*r);
    if (e.code == "NAME_UNKNOWN")
      return make_error(errc::not_found,
                        fmt::format("repository {} not found: {}", ctx.ref.name(),
                                    e.message.empty() ? "name unknown" : e.message));
    return make_error(errc::not_found,
                      fmt::format("manifest unknown: {} not found", ctx.ref.familiar()));
  }
  if (r->status != 200) return status_error(*r, what);
  fetched_manifest m;
  m.body = std::move(r->body);
  m.digest = sha256_of(m.body);
  if (!expect_digest.empty() && m.digest != expect_digest)
    return make_error(errc::protocol, fmt::format("digest mismatch: asked {} for {} and got {}",
                                                  ctx.c.domain(), expect_digest, m.digest));
  auto header_digest = r->header("docker-content-digest");
  if (is_digest(header_digest) && header_digest != m.digest)
    return make_error(errc::protocol, fmt::format("digest mismatch: {} says {} is {} but its bytes "
                                                  "hash to {}",
                                                  ctx.c.domain(), what, header_digest, m.digest));
  auto type = r->header("content-type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (type == mt::docker_manifest_v1 || type == mt::docker_manifest_v1_signed)
    return make_error(errc::unsupported,
                      fmt::format("{} is a Docker schema 1 manifest, which berth does not support "
                                  "(push it again with a current Docker or skopeo)",
                                  what));
  auto kind = kind_of(type);
  if (kind != blob_kind::index && kind != blob_kind::manifest) {
    // Some registries answer application/json: take the document's own word.
    auto j = detail::parse_json(m.body, max_manifest_bytes, "manifest");
    if (!j) return with_context(j.error(), what);
    auto stated = j->is_object() ? j->value("mediaType", std::string{}) : std::string{};
    if (j->is_object() && j->value("schemaVersion", 0) == 1)
      return make_error(
          errc::unsupported,
          fmt::format("{} is a Docker schema 1 manifest, which berth does not support", what));
    if (kind_of(stated) == blob_kind::index || kind_of(stated) == blob_kind::manifest)
      type = stated;
    else if (j->is_object() && j->contains("manifests"))
      type = mt::oci_index;
    else if (j->is_object() && j->contains("layers"))
      type = mt::oci_manifest;
    else
      return make_error(errc::unsupported, fmt::format("{} is not an image (media type '{}')", what,
                                                       type.substr(0, 100)));
  }
  m.media_type = type;
  return m;
}

class registry_source : public blob_source {
 public:
  explicit registry_source(pull_context& ctx, http_session& s) : ctx_(ctx), s_(s) {}

  caf::expected<void> fetch(const descriptor& d, std::string_view) override {
    auto kind = kind_of(d.media_type);
    if (kind == blob_kind::index || kind == blob_kind::manifest) {
      if (ctx_.po.on_blob) ctx_.po.on_blob(d.digest);
      if (ctx_.store.contains(d.digest)) return {};
      auto m = get_manifest(ctx_, s_, d.digest, d.digest);
      if (!m) return m.error();
      if (m->body.size() != d.size)
        return make_error(errc::protocol, fmt::format("size mismatch: the index says {} bytes, the "
                                                      "registry sent {}",
                                                      d.size, m->body.size()));
      return ctx_.store.ingest_bytes(m->body, d.digest);
    }
    return fetch_blob(ctx_, s_, d, ctx_.po.cancel);
  }

  caf::expected<void> fetch_layers(const std::vector<descriptor>& layers) override {
    if (ctx_.po.progress)
      for (const auto& l : layers)
        if (!ctx_.store.contains(l.digest))
          progress_emitter{ctx_.po.progress, l}.emit("waiting", 0);
    std::atomic<size_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex m;
    std::optional<caf::error> first_error;
    auto work = [&] {
      http_session s{ctx_.c.limits()};
      for (;;) {
        if (stop.load() || (ctx_.po.cancel && ctx_.po.cancel->load())) return;
        auto i = next++;
        if (i >= layers.size()) return;
        caf::expected<void> ok = caf::unit;
        try {
          ok = fetch_blob(ctx_, s, layers[i], &stop);
        } catch (...) {
          // A crash is the caller's to see (its supervisor restarts the pull): pass it on.
          std::lock_guard<std::mutex> guard{m};
          if (!first_error) first_error = make_error(errc::internal, "crashed");
          crash_ = std::current_exception();
          stop = true;
          return;
        }
        if (!ok) {
          std::lock_guard<std::mutex> guard{m};
          if (!first_error && code_of(ok.error()) != errc::cancelled)
            first_error = with_context(ok.error(), fmt::format("layer {} {}", i, layers[i].digest));
          stop = true;
          return;
        }
      }
    };
    // The pull's cancel flag stops the layer transfers too.
    std::thread watcher;
    std::atomic<bool> done{false};
    if (ctx_.po.cancel)
      watcher = std::thread{[&] {
        while (!done.load()) {
          if (ctx_.po.cancel->load()) stop = true;
          std::this_thread::sleep_for(20ms);
        }
      }};
    auto n = std::clamp<size_t>(ctx_.opts.max_concurrent_downloads, 1, 16);
    n = std::min(n, std::max<size_t>(layers.size(), 1));
    std::vector<std::thread> threads;
    for (size_t i = 1; i < n; ++i) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
    done = true;
    if (watcher.joinable()) watcher.join();
    if (crash_) std::rethrow_exception(crash_);
    if (ctx_.po.cancel && ctx_.po.cancel->load()) return cancelled_error();
    if (first_error) return *first_error;
    return {};
  }

 private:
  pull_context& ctx_;
  http_session& s_;
  std::exception_ptr crash_;
};

}  // namespace

std::string registry_api_host(std::string_view domain) {
  if (domain == default_domain) return "registry-1.docker.io";
  return std::string{domain};
}

bool is_insecure_registry(const registry_options& opts, std::string_view domain) {
  auto d = lower(domain);
  auto host = host_part(d);
  if (opts.loopback_insecure && is_loopback(host)) return true;
  for (const auto& entry : opts.insecure_registries) {
    auto e = lower(entry);
    for (std::string_view scheme : {"https://", "http://"})
      if (e.rfind(scheme, 0) == 0) e = e.substr(scheme.size());
    while (!e.empty() && e.back() == '/') e.pop_back();
    if (e == d || e == host) return true;
  }
  return false;
}

caf::expected<pulled_image> pull_image(const content_store& store, const reference& ref,
                                       const registry_options& opts, const pull_options& po) {
  client c{ref.domain, opts};
  http_session s{c.limits()};
  pull_context ctx{c, store, ref, po, opts, fmt::format("repository:{}:pull", ref.path)};
  auto m = get_manifest(ctx, s, ref.digest.empty() ? ref.tag : ref.digest, ref.digest);
  if (!m) return m.error();
  descriptor root;
  root.media_type = m->media_type;
  root.digest = m->digest;
  root.size = m->body.size();
  if (po.on_blob) po.on_blob(root.digest);
  if (!store.contains(root.digest))
    if (auto ok = store.ingest_bytes(m->body, root.digest); !ok) return ok.error();
  registry_source source{ctx, s};
  auto resolved = resolve_image(store, source, root, po.want);
  if (!resolved) {
    if (code_of(resolved.error()) == errc::cancelled) return cancelled_error();
    return resolved.error();
  }
  pulled_image out;
  out.image = std::move(*resolved);
  out.root = root;
  if (kind_of(root.media_type) == blob_kind::index) out.index_digest = root.digest;
  out.repo_digest = ref.name() + "@" + root.digest;
  return out;
}

// -- pushing --------------------------------------------------------------------------------------

namespace {

// Uploads one blob unless the registry has it; answers the bytes sent.
caf::expected<uint64_t> push_blob(client& c, http_session& s, const content_store& store,
                                  const reference& ref, const std::string& scope,
                                  const descriptor& d, const progress_fn& progress,
                                  const std::atomic<bool>* cancel) {
  progress_emitter emit{progress, d};
  http_request head;
  head.method = "HEAD";
  head.url = fmt::format("/v2/{}/blobs/{}", ref.path, d.digest);
  auto have = c.send(s, head, scope, cancel);
  if (!have) return have.error();
  if (have->status == 200) {
    emit.emit("exists", d.size);
    return 0;
  }
  auto path = store.path_of(d.digest);
  if (!path) return path.error();
  detail::unique_fd fd{::open(path->c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd) return detail::io_error("cannot open", *path, errno);
  emit.emit("uploading", 0);
  http_request start;
  start.method = "POST";
  start.url = fmt::format("/v2/{}/blobs/uploads/", ref.path);
  start.max_body = max_small_response;
  auto started = c.send(s, start, scope, cancel);
  if (!started) return started.error();
  if (started->status != 202) return status_error(*started, "starting an upload");
  auto location = started->header("location");
  if (location.empty())
    return make_error(errc::protocol, "the registry started an upload without a Location");
  http_request put;
  put.method = "PUT";
  put.url = location + (location.find('?') == std::string::npos ? "?" : "&") +
            "digest=" + detail::url_encode(d.digest);
  put.headers.push_back("Content-Type: application/octet-stream");
  put.body_fd = fd.get();
  put.body_size = d.size;
  put.max_body = max_small_response;
  put.on_progress = [&](uint64_t, uint64_t up) {
    emit.emit("uploading", up, false);
    return false;
  };
  // Each attempt sends the whole blob again.
  auto rewind = [&](http_request&) { ::lseek(fd.get(), 0, SEEK_SET); };
  auto done = c.send(s, put, scope, cancel, rewind);
  if (!done) return done.error();
  if (done->status != 201 && done->status != 204)
    return status_error(*done, "uploading " + d.digest);
  emit.emit("done", d.size);
  return d.size;
}

}  // namespace

caf::expected<api::pushed> push_image(const content_store& store, const reference& ref,
                                      std::string_view manifest_digest,
                                      const registry_options& opts, const progress_fn& progress,
                                      const std::atomic<bool>* cancel) {
  if (ref.tag.empty()) return invalid("push needs a tag: {}", ref.to_string());
  auto body = store.read_small(manifest_digest, max_manifest_bytes);
  if (!body) return body.error();
  auto m = parse_manifest(*body, {});
  if (!m) return with_context(m.error(), fmt::format("manifest {}", manifest_digest));
  client c{ref.domain, opts};
  http_session s{c.limits()};
  auto scope = fmt::format("repository:{}:pull,push", ref.path);
  api::pushed out;
  std::vector<descriptor> blobs = m->layers;
  blobs.push_back(m->config);
  for (const auto& d : blobs) {
    auto sent = push_blob(c, s, store, ref, scope, d, progress, cancel);
    if (!sent) return with_context(sent.error(), fmt::format("pushing {}", d.digest));
    out.size += *sent;
  }
  http_request put;
  put.method = "PUT";
  put.url = fmt::format("/v2/{}/manifests/{}", ref.path, ref.tag);
  put.headers.push_back("Content-Type: " + m->media_type);
  put.body = *body;
  put.max_body = max_small_response;
  auto r = c.send(s, put, scope, cancel);
  if (!r) return r.error();
  if (r->status != 201 && r->status != 200) return status_error(*r, "pushing the manifest");
  auto got = r->header("docker-content-digest");
  if (is_digest(got) && got != manifest_digest)
    return make_error(errc::protocol, fmt::format("the registry stored the manifest as {}, not {}",
                                                  got, manifest_digest));
  out.digest = std::string{manifest_digest};
  out.size += body->size();
  return out;
}

caf::expected<void> check_login(std::string_view server, const credential& cred,
                                const registry_options& opts) {
  auto domain = normalize_server(server);
  if (!domain) return domain.error();
  client c{*domain, opts, cred};
  http_session s{c.limits()};
  return c.check(s);
}

}  // namespace berth::image
