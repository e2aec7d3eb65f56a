# Compiler set-up for sanitizer and fuzzing builds (KPU_SANITIZE, KPU_FUZZ; docs/fuzzing.md).

include(CheckCXXSourceCompiles)

# libstdc++ 12's <expected> is guarded by __cpp_concepts >= 202002L, which clang before 19
# does not advertise although it implements what <expected> uses (clang 16 and later). When
# <expected> does not compile as is, advertise the C++20 value and check that it then does.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(kpu_expected_probe "#include <expected>\nint main() { std::expected<int, int> e{1}; return *e - 1; }")
  set(CMAKE_REQUIRED_FLAGS "-std=c++2b")
  check_cxx_source_compiles("${kpu_expected_probe}" KPU_CLANG_EXPECTED_WORKS)
  if(NOT KPU_CLANG_EXPECTED_WORKS)
    set(CMAKE_REQUIRED_FLAGS "-std=c++2b -U__cpp_concepts -D__cpp_concepts=202002L")
    check_cxx_source_compiles("${kpu_expected_probe}" KPU_CLANG_EXPECTED_WITH_CONCEPTS)
    if(NOT KPU_CLANG_EXPECTED_WITH_CONCEPTS)
      message(FATAL_ERROR "${CMAKE_CXX_COMPILER} cannot compile libstdc++'s <expected>; use clang 16 or later")
    endif()
    add_compile_options(-U__cpp_concepts -D__cpp_concepts=202002L)
  endif()
  unset(CMAKE_REQUIRED_FLAGS)
endif()

set(kpu_sanitizers "${KPU_SANITIZE}")
if(KPU_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "KPU_FUZZ needs clang (libFuzzer), e.g. CC=clang-16 CXX=clang++-16; see docs/fuzzing.md")
  endif()
  if(kpu_sanitizers STREQUAL "")
    set(kpu_sanitizers "address,undefined")
  endif()
  # Every library gets libFuzzer's coverage instrumentation; only the fuzz targets link its main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(NOT kpu_sanitizers STREQUAL "")
  # Every report is fatal: a sanitizer finding fails the test (or stops the fuzzer) that hit it.
  add_compile_options(-fsanitize=${kpu_sanitizers} -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${kpu_sanitizers})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12's flow-based warnings misfire on sanitizer-instrumented code (-Wmaybe-uninitialized
    # inside <regex>, -Wstringop-overflow on a vector resize): they are printed, not errors. The
    # Release build keeps -Werror, and it compiles the same sources.
    set(KPU_WERROR OFF) # this configuration only (a normal variable shadows the option)
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
endif()
