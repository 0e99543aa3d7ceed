# Included by ctest (TEST_INCLUDE_FILES): registers every Criterion test case of one binary as its
# own ctest test, so counts are honest per case and a failure names the case.
# Expects: AG_CRIT_BIN, AG_CRIT_PREFIX, AG_CRIT_LABEL, AG_CRIT_ENV (list), AG_CRIT_TIMEOUT.
if(NOT EXISTS "${AG_CRIT_BIN}")
  add_test("${AG_CRIT_PREFIX}.NOT_BUILT" "${AG_CRIT_BIN}")
  return()
endif()
execute_process(COMMAND "${AG_CRIT_BIN}" --list OUTPUT_VARIABLE out RESULT_VARIABLE rc
                ERROR_VARIABLE errout)
if(NOT rc EQUAL 0)
  add_test("${AG_CRIT_PREFIX}.LIST_FAILED" "${AG_CRIT_BIN}" --list)
  return()
endif()
string(REPLACE "\n" ";" lines "${out}")
set(suite "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([A-Za-z0-9_]+): [0-9]+ tests?$")
    set(suite "${CMAKE_MATCH_1}")
  elseif(line MATCHES "^(├|└)── ([A-Za-z0-9_]+)")
    set(name "${CMAKE_MATCH_2}")
    set(t "${AG_CRIT_PREFIX}.${suite}.${name}")
    add_test("${t}" "${AG_CRIT_BIN}" "--filter=${suite}/${name}" --short-filename)
    set_tests_properties("${t}" PROPERTIES LABELS "${AG_CRIT_LABEL}" TIMEOUT "${AG_CRIT_TIMEOUT}"
                         ENVIRONMENT "${AG_CRIT_ENV}")
  endif()
endforeach()
