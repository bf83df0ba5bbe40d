// store.cpp: SQLite behind a typed actor.
//
// berth.db holds every container's environment (passwords given with -e among them): it is
// created 0600 by open(2) before SQLite sees it, and SQLite gives its -wal and -shm files the
// database file's mode, so none of them is ever readable by another user, whatever the umask.
#include "berth/supervisor/store.hpp"

#include "berth/actors/log.hpp"
#include "berth/rpc/codec.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <caf/local_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cerrno>
#include <cstring>
#include <memory>

namespace berth {

namespace {

inline constexpr log::logger store_log("store");

constexpr int schema_version = 1;

struct db_closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using db_ptr = std::shared_ptr<sqlite3>;

struct stmt_closer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_closer>;

caf::error db_error(sqlite3* db, const std::string& what) {
  auto code = sqlite3_errcode(db);
  auto cls = (code == SQLITE_FULL || code == SQLITE_IOERR) ? errc::io : errc::internal;
  return make_error(cls, "the metadata store cannot " + what + ": " + sqlite3_errmsg(db));
}

caf::expected<void> exec(sqlite3* db, const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string text = msg ? msg : "?";
    sqlite3_free(msg);
    return make_error(errc::internal, std::string("sqlite: ") + text);
  }
  return caf::unit;
}

caf::expected<stmt_ptr> prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) return db_error(db, "prepare");
  return stmt_ptr(s);
}

// Inserts or replaces one row of (id, record) in `table`.
caf::expected<void> put(sqlite3* db, const char* sql, const std::string& id,
                        const std::string& blob) {
  auto s = prepare(db, sql);
  if (!s) return s.error();
  sqlite3_bind_text(s->get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
  sqlite3_bind_blob(s->get(), 2, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(s->get()) != SQLITE_DONE) return db_error(db, "write");
  return caf::unit;
}

caf::expected<void> del(sqlite3* db, const char* sql, const std::string& id) {
  auto s = prepare(db, sql);
  if (!s) return s.error();
  sqlite3_bind_text(s->get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(s->get()) != SQLITE_DONE) return db_error(db, "delete");
  return caf::unit;
}

// Every record of a table; rows that do not decode are skipped with a log line, not fatal.
template <class T>
caf::expected<std::vector<T>> all(sqlite3* db, const char* sql) {
  auto s = prepare(db, sql);
  if (!s) return s.error();
  std::vector<T> out;
  for (;;) {
    int rc = sqlite3_step(s->get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return db_error(db, "read");
    auto id = reinterpret_cast<const char*>(sqlite3_column_text(s->get(), 0));
    auto blob = static_cast<const char*>(sqlite3_column_blob(s->get(), 1));
    auto size = sqlite3_column_bytes(s->get(), 1);
    try {
      out.push_back(
          rpc::unpack_as<T>(std::string_view(blob ? blob : "", static_cast<std::size_t>(size))));
    } catch (const rpc::call_error& e) {
      store_log.error("skipping unreadable record {}: {}", id ? id : "?", e.what());
    }
  }
  return out;
}

// Creates the database file 0600 if missing and narrows it and its -wal and -shm (an older
// berthd made them 0644) before SQLite opens them.
caf::expected<void> make_private(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(errc::io, "cannot open " + path.string() + ": " + std::strerror(errno));
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && ((st.st_mode & 077) == 0 || ::fchmod(fd, 0600) == 0);
  int err = errno;
  ::close(fd);
  if (!ok)
    return make_error(errc::io, "cannot make " + path.string() + " private: " + std::strerror(err));
  for (auto suffix : {"-wal", "-shm", "-journal"}) {
    auto side = path.string() + suffix;
    if (::lstat(side.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0 &&
        ::chmod(side.c_str(), 0600) != 0)
      return make_error(errc::io, "cannot make " + side + " private: " + std::strerror(errno));
  }
  return {};
}

caf::expected<db_ptr> open_db(const std::filesystem::path& path) {
  if (path != ":memory:" && !path.empty())
    if (auto ok = make_private(path); !ok) return ok.error();
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  db_ptr db(raw, db_closer{});
  if (rc != SQLITE_OK)
    return make_error(errc::io, "cannot open " + path.string() + ": " + sqlite3_errstr(rc));
  sqlite3_busy_timeout(db.get(), 5000);
  for (auto sql :
       {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;",
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        "CREATE TABLE IF NOT EXISTS containers (id TEXT PRIMARY KEY, record BLOB NOT NULL);",
        "CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, record BLOB NOT NULL);",
        "CREATE TABLE IF NOT EXISTS volumes (id TEXT PRIMARY KEY, record BLOB NOT NULL);",
        "CREATE TABLE IF NOT EXISTS networks (id TEXT PRIMARY KEY, record BLOB NOT NULL);"})
    if (auto r = exec(db.get(), sql); !r) return r.error();
  auto s = prepare(db.get(), "SELECT value FROM meta WHERE key = 'schema';");
  if (!s) return s.error();
  if (sqlite3_step(s->get()) == SQLITE_ROW) {
    int found = sqlite3_column_int(s->get(), 0);
    if (found > schema_version)
      return make_error(errc::unsupported, path.string() + " has schema " + std::to_string(found) +
                                               ", newer than this berthd (" +
                                               std::to_string(schema_version) + ")");
  } else {
    auto sql = "INSERT INTO meta (key, value) VALUES ('schema', '" +
               std::to_string(schema_version) + "');";
    if (auto r = exec(db.get(), sql.c_str()); !r) return r.error();
  }
  return db;
}

store_actor::behavior_type store_behavior(store_actor::pointer self, db_ptr db) {
  self->attach_functor([db] { store_log.debug("store closed"); });
  return {
      [db](save_atom, const container_record& rec) -> caf::result<void> {
        if (auto r = put(db.get(), "INSERT OR REPLACE INTO containers (id, record) VALUES (?, ?);",
                         rec.id, rpc::pack(rec));
            !r)
          return r.error();
        return caf::unit;
      },
      [db](erase_atom, container_atom, const std::string& id) -> caf::result<void> {
        if (auto r = del(db.get(), "DELETE FROM containers WHERE id = ?;", id); !r)
          return r.error();
        return caf::unit;
      },
      [db](list_atom, container_atom) -> caf::result<std::vector<container_record>> {
        auto r = all<container_record>(db.get(), "SELECT id, record FROM containers;");
        if (!r) return r.error();
        return std::move(*r);
      },
      [db](save_atom, const image_record& rec) -> caf::result<void> {
        if (auto r = put(db.get(), "INSERT OR REPLACE INTO images (id, record) VALUES (?, ?);",
                         rec.id, rpc::pack(rec));
            !r)
          return r.error();
        return caf::unit;
      },
      [db](erase_atom, image_atom, const std::string& id) -> caf::result<void> {
        if (auto r = del(db.get(), "DELETE FROM images WHERE id = ?;", id); !r) return r.error();
        return caf::unit;
      },
      [db](list_atom, image_atom) -> caf::result<std::vector<image_record>> {
        auto r = all<image_record>(db.get(), "SELECT id, record FROM images;");
        if (!r) return r.error();
        return std::move(*r);
      },
      [db](save_atom, const volume_record& rec) -> caf::result<void> {
        if (auto r = put(db.get(), "INSERT OR REPLACE INTO volumes (id, record) VALUES (?, ?);",
                         rec.name, rpc::pack(rec));
            !r)
          return r.error();
        return caf::unit;
      },
      [db](erase_atom, volume_atom, const std::string& name) -> caf::result<void> {
        if (auto r = del(db.get(), "DELETE FROM volumes WHERE id = ?;", name); !r) return r.error();
        return caf::unit;
      },
      [db](list_atom, volume_atom) -> caf::result<std::vector<volume_record>> {
        auto r = all<volume_record>(db.get(), "SELECT id, record FROM volumes;");
        if (!r) return r.error();
        return std::move(*r);
      },
      [db](save_atom, const network_record& rec) -> caf::result<void> {
        if (auto r = put(db.get(), "INSERT OR REPLACE INTO networks (id, record) VALUES (?, ?);",
                         rec.id, rpc::pack(rec));
            !r)
          return r.error();
        return caf::unit;
      },
      [db](erase_atom, network_atom, const std::string& id) -> caf::result<void> {
        if (auto r = del(db.get(), "DELETE FROM networks WHERE id = ?;", id); !r) return r.error();
        return caf::unit;
      },
      [db](list_atom, network_atom) -> caf::result<std::vector<network_record>> {
        auto r = all<network_record>(db.get(), "SELECT id, record FROM networks;");
        if (!r) return r.error();
        return std::move(*r);
      },
  };
}

}  // namespace

caf::expected<store_actor> spawn_store(caf::local_actor* parent,
                                       const std::filesystem::path& path) {
  auto db = open_db(path);
  if (!db) return db.error();
  return parent->spawn<caf::detached + caf::linked>(store_behavior, std::move(*db));
}

}  // namespace berth
