# FindLibstatus.cmake: find libstatus without an installed CMake config, e.g. straight
# from a source checkout after `cargo build`, or through pkg-config.
#
#   list(APPEND CMAKE_MODULE_PATH /path/to/libstatus/bindings/c/cmake)
#   set(LIBSTATUS_ROOT /path/to/libstatus)   # optional: a checkout (uses target/release, then target/debug)
#   set(LIBSTATUS_LIB_DIR ...)               # optional: exactly where libstatus.so/.a is
#   set(LIBSTATUS_INCLUDE_DIR ...)           # optional: exactly where libstatus.h is
#   find_package(Libstatus REQUIRED)
#   target_link_libraries(app PRIVATE libstatus::libstatus)
#
# LIBSTATUS_ROOT, LIBSTATUS_LIB_DIR and LIBSTATUS_INCLUDE_DIR are read from CMake variables or the environment.
# Defines: Libstatus_FOUND, Libstatus_VERSION (from pkg-config when known),
#          Libstatus_INCLUDE_DIRS, Libstatus_LIBRARIES, imported target libstatus::libstatus
#          (the same name the installed libstatusConfig.cmake exports).

foreach(_libstatus_var LIBSTATUS_ROOT LIBSTATUS_LIB_DIR LIBSTATUS_INCLUDE_DIR)
  if(NOT ${_libstatus_var} AND DEFINED ENV{${_libstatus_var}})
    set(${_libstatus_var} "$ENV{${_libstatus_var}}")
  endif()
endforeach()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_LIBSTATUS QUIET libstatus)
endif()

set(_libstatus_lib_hints "")
set(_libstatus_inc_hints "")
if(LIBSTATUS_LIB_DIR)
  list(APPEND _libstatus_lib_hints "${LIBSTATUS_LIB_DIR}")
endif()
if(LIBSTATUS_INCLUDE_DIR)
  list(APPEND _libstatus_inc_hints "${LIBSTATUS_INCLUDE_DIR}")
endif()
if(LIBSTATUS_ROOT)
  list(APPEND _libstatus_lib_hints "${LIBSTATUS_ROOT}/target/release" "${LIBSTATUS_ROOT}/target/debug"
       "${LIBSTATUS_ROOT}/lib")
  list(APPEND _libstatus_inc_hints "${LIBSTATUS_ROOT}/include")
endif()

# A hinted location wins over system paths: search it alone first.
if(_libstatus_lib_hints)
  find_library(Libstatus_LIBRARY NAMES status PATHS ${_libstatus_lib_hints} NO_DEFAULT_PATH)
endif()
find_library(Libstatus_LIBRARY NAMES status HINTS ${PC_LIBSTATUS_LIBDIR} ${PC_LIBSTATUS_LIBRARY_DIRS})
if(_libstatus_inc_hints)
  find_path(Libstatus_INCLUDE_DIR libstatus.h PATHS ${_libstatus_inc_hints} NO_DEFAULT_PATH)
endif()
find_path(Libstatus_INCLUDE_DIR libstatus.h HINTS ${PC_LIBSTATUS_INCLUDEDIR} ${PC_LIBSTATUS_INCLUDE_DIRS})

set(Libstatus_VERSION "${PC_LIBSTATUS_VERSION}")

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Libstatus
  REQUIRED_VARS Libstatus_LIBRARY Libstatus_INCLUDE_DIR
  VERSION_VAR Libstatus_VERSION)

if(Libstatus_FOUND)
  set(Libstatus_INCLUDE_DIRS "${Libstatus_INCLUDE_DIR}")
  set(Libstatus_LIBRARIES "${Libstatus_LIBRARY}")
  if(NOT TARGET libstatus::libstatus)
    if(Libstatus_LIBRARY MATCHES "\\${CMAKE_STATIC_LIBRARY_SUFFIX}$")
      find_package(Threads REQUIRED)
      add_library(libstatus::libstatus STATIC IMPORTED)
      set_target_properties(libstatus::libstatus PROPERTIES
        INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m")
    else()
      # DT_SONAME libstatus.so.0 on Linux: build.rs puts a libstatus.so.0
      # symlink next to target/<profile>/libstatus.so for programs linked here.
      add_library(libstatus::libstatus SHARED IMPORTED)
    endif()
    set_target_properties(libstatus::libstatus PROPERTIES
      IMPORTED_LOCATION "${Libstatus_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${Libstatus_INCLUDE_DIR}")
  endif()
endif()

mark_as_advanced(Libstatus_LIBRARY Libstatus_INCLUDE_DIR)
