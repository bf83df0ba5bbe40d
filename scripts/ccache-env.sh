# ccache-env.sh: sourced by build.sh and fuzz.sh from the checkout's root. When ccache (installed
# by install-deps.sh) is there, sets `launcher` to the cmake option that compiles through it and
# exports what lets another clone of the same commit hit the cache: paths under this checkout
# hash as relative ones and the directory is left out of the hash (line tables then name the
# first clone's files). Without ccache, `launcher` is empty.
launcher=
if command -v ccache >/dev/null 2>&1; then
  launcher=-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
  CCACHE_BASEDIR=$(pwd)
  CCACHE_NOHASHDIR=1
  export CCACHE_BASEDIR CCACHE_NOHASHDIR
fi
