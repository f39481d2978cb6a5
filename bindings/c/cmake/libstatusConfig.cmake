# libstatusConfig.cmake: CMake package config for an installed libstatus.
#
# Installed by `scripts/install PREFIX` (or `make -C bindings/c install`) into <libdir>/cmake/libstatus/, next to
# libstatusConfigVersion.cmake. It locates everything relative to itself, so an
# install tree can be moved. Use it from a Qt/CMake application:
#
#   find_package(libstatus 0.1 CONFIG REQUIRED)   # add the prefix to CMAKE_PREFIX_PATH
#   target_link_libraries(app PRIVATE libstatus::libstatus)   # shared libstatus.so/.dylib
#   # or libstatus::static for the static archive (pulls in threads, dl, m, ...)
#
# Defines: libstatus_FOUND, libstatus_INCLUDE_DIR, libstatus_LIBRARY,
#          libstatus_STATIC_LIBRARY (if the archive is installed),
#          imported targets libstatus::libstatus and (if installed) libstatus::static.
#
# Reminder of the ABI contract: every function returns a JSON C string that must be
# given back to Free() exactly once; see libstatus.h.

# (No cmake_minimum_required here: a package config must not change the policies
# of the project that includes it. Needs CMake >= 3.11 for IMPORTED targets + Threads.)

get_filename_component(_libstatus_libdir "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

# <libdir> is <prefix>/lib, <prefix>/lib64 or <prefix>/lib/<multiarch>.
set(libstatus_INCLUDE_DIR "")
foreach(_libstatus_candidate "${_libstatus_libdir}/../include" "${_libstatus_libdir}/../../include")
  if(EXISTS "${_libstatus_candidate}/libstatus.h")
    get_filename_component(libstatus_INCLUDE_DIR "${_libstatus_candidate}" ABSOLUTE)
    break()
  endif()
endforeach()

set(libstatus_LIBRARY "${_libstatus_libdir}/${CMAKE_SHARED_LIBRARY_PREFIX}status${CMAKE_SHARED_LIBRARY_SUFFIX}")
set(libstatus_STATIC_LIBRARY "${_libstatus_libdir}/${CMAKE_STATIC_LIBRARY_PREFIX}status${CMAKE_STATIC_LIBRARY_SUFFIX}")
if(NOT EXISTS "${libstatus_STATIC_LIBRARY}")
  set(libstatus_STATIC_LIBRARY "")
endif()

if(NOT libstatus_INCLUDE_DIR OR NOT EXISTS "${libstatus_LIBRARY}")
  set(libstatus_FOUND FALSE)
  set(libstatus_NOT_FOUND_MESSAGE
      "libstatus.h or ${libstatus_LIBRARY} missing next to ${CMAKE_CURRENT_LIST_FILE}")
  return()
endif()

include(CMakeFindDependencyMacro)
find_dependency(Threads)

if(NOT TARGET libstatus::libstatus)
  add_library(libstatus::libstatus SHARED IMPORTED)
  set_target_properties(libstatus::libstatus PROPERTIES
    IMPORTED_LOCATION "${libstatus_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${libstatus_INCLUDE_DIR}")
  # On Linux the library carries DT_SONAME libstatus.so.0 (scripts/install
  # lays out libstatus.so.0.1.0, libstatus.so.0 and libstatus.so): programs
  # linked against it load libstatus.so.0.
endif()

if(libstatus_STATIC_LIBRARY AND NOT TARGET libstatus::static)
  add_library(libstatus::static STATIC IMPORTED)
  # What the Rust standard library needs from the system
  # (`cargo rustc -- --print native-static-libs`).
  if(APPLE)
    set(_libstatus_system_libs "-framework CoreFoundation" "-framework Security" iconv)
  elseif(WIN32)
    set(_libstatus_system_libs ws2_32 userenv bcrypt ntdll)
  else()
    set(_libstatus_system_libs ${CMAKE_DL_LIBS} m rt util)
  endif()
  set_target_properties(libstatus::static PROPERTIES
    IMPORTED_LOCATION "${libstatus_STATIC_LIBRARY}"
    IMPORTED_LINK_INTERFACE_LANGUAGES "C"
    INTERFACE_INCLUDE_DIRECTORIES "${libstatus_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "Threads::Threads;${_libstatus_system_libs}")
endif()

set(libstatus_FOUND TRUE)
