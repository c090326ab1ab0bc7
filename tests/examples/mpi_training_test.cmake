# vaegan train under mpirun with 2 processes (VAEGAN_MPI builds), on make_tiny_mnist data:
#   - it trains, and process 0 alone writes the samples, the losses and the checkpoint;
#   - two runs with the same seed write byte-identical checkpoints;
#   - a run stopped and resumed under mpirun writes the checkpoint of the run that was not
#     stopped, byte for byte (the data order and the Rng do not depend on the process);
#   - one process resumes a checkpoint that two wrote;
#   - a batch that does not split evenly is a usage error (exit 2) naming the fix.
# Variables: VAEGAN, MAKE_DATA, MPIEXEC (with its flags as a list), WORK_DIR.
include("${CMAKE_CURRENT_LIST_DIR}/test_helpers.cmake")
foreach(_var VAEGAN MAKE_DATA MPIEXEC WORK_DIR)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "mpi_training_test.cmake: -D${_var}=... is required")
  endif()
endforeach()
set(PROGRAM "${VAEGAN};train")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(DATA "${WORK_DIR}/data")
run(data "${MAKE_DATA}" "${DATA}" 512 64 7)
expect_exit(data 0)

set(COMMON --data "${DATA}" --seed 3 --batch-size 32 --epochs 3 --samples 16 --check-replicas 5)
set(MPI2 ${MPIEXEC} 2)

run(a ${MPI2} "${PROGRAM}" ${COMMON} --max-steps 24 --out "${WORK_DIR}/a")
expect_exit(a 0)
expect_in(a out "in each of 2 processes")
foreach(_file checkpoint.vgck samples.png losses.csv samples_epoch_001.png)
  if(NOT EXISTS "${WORK_DIR}/a/${_file}")
    fail(a "expected ${WORK_DIR}/a/${_file}")
  endif()
endforeach()
# One progress report, one "done" line: process 1 prints nothing.
string(REGEX MATCHALL "done after" _done "${a_out}")
list(LENGTH _done _count)
if(NOT _count EQUAL 1)
  fail(a "expected one 'done after' line, got ${_count}")
endif()

run(b ${MPI2} "${PROGRAM}" ${COMMON} --max-steps 24 --out "${WORK_DIR}/b")
expect_exit(b 0)
file(SHA256 "${WORK_DIR}/a/checkpoint.vgck" _a)
file(SHA256 "${WORK_DIR}/b/checkpoint.vgck" _b)
if(NOT _a STREQUAL _b)
  fail(b "two runs with the same seed and 2 processes wrote different checkpoints")
endif()

run(c1 ${MPI2} "${PROGRAM}" ${COMMON} --max-steps 10 --out "${WORK_DIR}/c")
expect_exit(c1 0)
run(c2 ${MPI2} "${PROGRAM}" ${COMMON} --max-steps 24 --out "${WORK_DIR}/c" --resume)
expect_exit(c2 0)
file(SHA256 "${WORK_DIR}/c/checkpoint.vgck" _c)
if(NOT _a STREQUAL _c)
  fail(c2 "a run stopped after 10 steps and resumed under mpirun did not end where the straight run did")
endif()

run(d "${PROGRAM}" ${COMMON} --max-steps 30 --out "${WORK_DIR}/c" --resume)
expect_exit(d 0)
expect_in(d out "done after 30 steps (6 this run)")

run(odd ${MPI2} "${PROGRAM}" ${COMMON} --batch-size 33 --out "${WORK_DIR}/odd")
expect_exit(odd 2)
expect_in(odd err "--batch-size 33 cannot be split evenly over 2 processes; use a multiple of 2")
if(EXISTS "${WORK_DIR}/odd")
  fail(odd "a usage error left ${WORK_DIR}/odd behind")
endif()
