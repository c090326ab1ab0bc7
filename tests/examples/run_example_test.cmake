# Runs one training example end to end on a tiny generated dataset and checks what it
# writes and how it fails. A CMake script (cmake -P) rather than a shell script, so it
# needs nothing but CMake itself. Variables (all required):
#   MODE          train: train 2 epochs, resume to 3, sample from the checkpoint
#                 bad_input: usage errors (exit 2) and runtime errors (exit 1): bad flags,
#                 data that is missing, of the wrong type or size, unwritable output, a
#                 NaN in training; each must print one line naming the problem and the fix
#                 and leave nothing behind (docs/reliability.md lists them)
#   VAEGAN        the vaegan program; the test runs `vaegan train --model KIND`
#   KIND          the model under test and its checkpoint kind: vaegan, gan or vae
#   OTHER_KIND    a model of another kind (train mode: must refuse KIND's checkpoint)
#   MAKE_DATA     make_tiny_mnist
#   WORK_DIR      a scratch directory, emptied first
cmake_minimum_required(VERSION 3.16)

foreach(_var MODE VAEGAN KIND OTHER_KIND MAKE_DATA WORK_DIR)
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "run_example_test.cmake: -D${_var}=... is required")
  endif()
endforeach()
# Commands as lists: run() expands them into the program and its arguments.
set(PROGRAM "${VAEGAN};train;--model;${KIND}")
set(OTHER_PROGRAM "${VAEGAN};train;--model;${OTHER_KIND}")
set(SAMPLER "${VAEGAN};sample")
set(RECONSTRUCTOR "${VAEGAN};reconstruct")
set(_program_name "vaegan train --model ${KIND}")

# The tiny dataset: 256 training images (8 batches of 32 an epoch) and 64 test images.
set(TRAIN_COUNT 256)
set(TEST_COUNT 64)
set(BATCH 32)
math(EXPR STEPS_PER_EPOCH "${TRAIN_COUNT} / ${BATCH}")
set(IMAGE_BYTES 784)

# ---- helpers -----------------------------------------------------------------------------

include("${CMAKE_CURRENT_LIST_DIR}/test_helpers.cmake")

function(expect_png path)
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "missing output file ${path}")
  endif()
  file(READ "${path}" _head LIMIT 8 HEX)
  if(NOT _head STREQUAL "89504e470d0a1a0a")
    message(FATAL_ERROR "${path} is not a PNG (starts with ${_head})")
  endif()
endfunction()

function(expect_exists path)
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "missing output file ${path}")
  endif()
endfunction()

function(expect_missing path)
  if(EXISTS "${path}")
    message(FATAL_ERROR "${path} should not exist")
  endif()
endfunction()

# An IDX image file of `count` 28x28 images: the exact size and header.
function(expect_idx_images path count)
  expect_exists("${path}")
  file(SIZE "${path}" _size)
  math(EXPR _expected "16 + ${count} * ${IMAGE_BYTES}")
  if(NOT _size EQUAL _expected)
    message(FATAL_ERROR "${path} has ${_size} bytes, expected ${_expected} (16-byte header + ${count} x 784)")
  endif()
  file(READ "${path}" _head LIMIT 16 HEX)
  # magic 0x00000803, count, 28 rows, 28 columns (big-endian u32s)
  math(EXPR _count_hex "${count}" OUTPUT_FORMAT HEXADECIMAL)
  string(SUBSTRING "${_count_hex}" 2 -1 _count_hex)
  string(LENGTH "${_count_hex}" _len)
  while(_len LESS 8)
    string(PREPEND _count_hex "0")
    math(EXPR _len "${_len} + 1")
  endwhile()
  string(TOLOWER "00000803${_count_hex}0000001c0000001c" _want)
  if(NOT _head STREQUAL _want)
    message(FATAL_ERROR "${path}: IDX header ${_head}, expected ${_want}")
  endif()
endfunction()

# The CSV's lines (header first) in <var>.
function(read_lines path var)
  expect_exists("${path}")
  file(STRINGS "${path}" _lines)
  set(${var} "${_lines}" PARENT_SCOPE)
endfunction()

# Checks row `index` (1-based) of losses.csv: epoch `epoch`, step `step`, and every loss a
# number (the VAE-GAN's gnorm_* instruments are nan unless --term-norms-every turns them on).
function(expect_csv_row lines index epoch step)
  list(GET lines 0 _header)
  string(REPLACE "," ";" _names "${_header}")
  list(GET lines ${index} _row)
  string(REPLACE "," ";" _fields "${_row}")
  list(GET _fields 0 _epoch)
  list(GET _fields 1 _step)
  if(NOT _epoch EQUAL epoch OR NOT _step EQUAL step)
    message(FATAL_ERROR "losses.csv row ${index} is '${_row}', expected epoch ${epoch} at step ${step}")
  endif()
  set(_i 0)
  foreach(_field IN LISTS _fields)
    list(GET _names ${_i} _name)
    math(EXPR _i "${_i} + 1")
    if(_name MATCHES "^gnorm_" AND _field STREQUAL "nan")
      continue()
    endif()
    if(NOT _field MATCHES "^-?[0-9]+(\\.[0-9]*)?([eE][-+]?[0-9]+)?$")
      message(FATAL_ERROR "losses.csv row ${index} has a non-numeric field '${_field}' (${_name}): '${_row}'")
    endif()
  endforeach()
endfunction()

# No statistic on stdout reads "nan": a progress line prints "-" for a statistic the step
# did not compute (the VAE-GAN's discriminator during its adversarial warm-up).
function(expect_no_nan prefix)
  if("${${prefix}_out}" MATCHES "(^|[^A-Za-z])-?[nN][aA][nN]([^A-Za-z]|$)")
    fail(${prefix} "expected no \"nan\" on stdout (a statistic a step did not compute prints as \"-\")")
  endif()
endfunction()

# ---- the dataset ---------------------------------------------------------------------------
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(DATA "${WORK_DIR}/data")
set(DATA_PNG "${WORK_DIR}/first-digits.png")  # a PNG file, for the wrong-file-type checks
run(data "${MAKE_DATA}" "${DATA}" ${TRAIN_COUNT} ${TEST_COUNT} 7 --png "${DATA_PNG}")
expect_exit(data 0)
expect_idx_images("${DATA}/train-images-idx3-ubyte" ${TRAIN_COUNT})
expect_idx_images("${DATA}/t10k-images-idx3-ubyte" ${TEST_COUNT})

set(COMMON --data "${DATA}" --preset seed --batch-size ${BATCH} --threads 1 --samples 16)
# The model under test: the VAE-GAN's adversarial warm-up (1000 steps by default) is cut
# to 4 steps so both phases run in these few steps.
set(OWN ${COMMON})
if(KIND STREQUAL "vaegan")
  list(APPEND OWN --adversarial-warmup 4)
endif()

if(MODE STREQUAL "train")
  set(OUT "${WORK_DIR}/out")
  if(KIND STREQUAL "gan")
    set(reconstructs OFF)
  else()
    set(reconstructs ON)
  endif()

  # -- two epochs from scratch
  run(train "${PROGRAM}" ${OWN} --epochs 2 --out "${OUT}")
  expect_exit(train 0)
  # The first step's progress line is always printed; the VAE-GAN's is in the warm-up.
  expect_no_nan(train)
  if(KIND STREQUAL "vaegan")
    expect_in(train out "loss_d -")
  endif()
  foreach(epoch 001 002)
    expect_png("${OUT}/samples_epoch_${epoch}.png")
    if(reconstructs)
      expect_png("${OUT}/recon_epoch_${epoch}.png")
    else()
      expect_missing("${OUT}/recon_epoch_${epoch}.png")
    endif()
  endforeach()
  expect_png("${OUT}/samples.png")
  expect_exists("${OUT}/losses.svg")
  file(READ "${OUT}/losses.svg" svg LIMIT 200)
  if(NOT svg MATCHES "<svg")
    message(FATAL_ERROR "${OUT}/losses.svg does not look like SVG: ${svg}")
  endif()
  expect_exists("${OUT}/checkpoint.vgck")
  # The report links every frame the run wrote (tests/report loads such a page in a browser).
  expect_exists("${OUT}/report.html")
  file(READ "${OUT}/report.html" report)
  foreach(_link losses.svg samples_epoch_001.png samples_epoch_002.png)
    if(NOT report MATCHES "src=\"${_link}\"")
      message(FATAL_ERROR "${OUT}/report.html does not show ${_link}")
    endif()
  endforeach()
  if(NOT report MATCHES "finished</b>")
    message(FATAL_ERROR "${OUT}/report.html does not say the run finished")
  endif()
  read_lines("${OUT}/losses.csv" lines)
  list(LENGTH lines count)
  if(NOT count EQUAL 3)
    message(FATAL_ERROR "losses.csv has ${count} lines after 2 epochs, expected a header and 2 rows:\n${lines}")
  endif()
  list(GET lines 0 header)
  if(NOT header MATCHES "^epoch,step,train_seconds,")
    message(FATAL_ERROR "losses.csv header is '${header}'")
  endif()
  math(EXPR step2 "2 * ${STEPS_PER_EPOCH}")
  expect_csv_row("${lines}" 1 1 ${STEPS_PER_EPOCH})
  expect_csv_row("${lines}" 2 2 ${step2})
  set(first_rows "${lines}")

  # -- resume to epoch 3: one more CSV row, the first two untouched. Before it, two
  # temporary files as a save interrupted by a signal leaves them: one of a process that
  # no longer exists (pid above any pid_max), which the run removes, one of a live process
  # (pid 1), which it must leave alone.
  file(WRITE "${OUT}/checkpoint.vgck.tmp.999999999.0" "half a checkpoint")
  file(WRITE "${OUT}/checkpoint.vgck.tmp.1.0" "a live writer's file")
  run(resume "${PROGRAM}" ${OWN} --epochs 3 --out "${OUT}" --resume)
  expect_exit(resume 0)
  expect_no_nan(resume)
  expect_in(resume out "resumed from")
  if(WIN32)
    file(REMOVE "${OUT}/checkpoint.vgck.tmp.999999999.0")
  else()
    expect_in(resume out "removed 1 temporary file(s) of interrupted checkpoint saves")
    expect_missing("${OUT}/checkpoint.vgck.tmp.999999999.0")
  endif()
  expect_exists("${OUT}/checkpoint.vgck.tmp.1.0")
  file(REMOVE "${OUT}/checkpoint.vgck.tmp.1.0")
  expect_png("${OUT}/samples_epoch_003.png")
  read_lines("${OUT}/losses.csv" lines)
  list(LENGTH lines count)
  if(NOT count EQUAL 4)
    message(FATAL_ERROR "losses.csv has ${count} lines after resuming to epoch 3, expected 4:\n${lines}")
  endif()
  list(SUBLIST lines 0 3 kept)
  if(NOT kept STREQUAL first_rows)
    message(FATAL_ERROR "resuming rewrote the earlier rows of losses.csv:\nbefore: ${first_rows}\nafter: ${kept}")
  endif()
  math(EXPR step3 "3 * ${STEPS_PER_EPOCH}")
  expect_csv_row("${lines}" 3 3 ${step3})

  # -- the same 3 epochs in two other pieces: --max-steps at the end of epoch 1 (which
  # closes that epoch: its samples and CSV row are written), then --resume to 3. The
  # final checkpoint must be byte-identical to the one of 2 + 1 epochs above.
  set(SPLIT "${WORK_DIR}/split")
  run(split1 "${PROGRAM}" ${OWN} --epochs 3 --out "${SPLIT}" --max-steps ${STEPS_PER_EPOCH})
  expect_exit(split1 0)
  expect_png("${SPLIT}/samples_epoch_001.png")
  expect_missing("${SPLIT}/samples_epoch_002.png")
  read_lines("${SPLIT}/losses.csv" lines)
  list(LENGTH lines count)
  if(NOT count EQUAL 2)
    message(FATAL_ERROR "losses.csv has ${count} lines after --max-steps ${STEPS_PER_EPOCH}, expected 2:\n${lines}")
  endif()
  expect_csv_row("${lines}" 1 1 ${STEPS_PER_EPOCH})
  run(split2 "${PROGRAM}" ${OWN} --epochs 3 --out "${SPLIT}" --resume)
  expect_exit(split2 0)
  read_lines("${SPLIT}/losses.csv" lines)
  list(LENGTH lines count)
  if(NOT count EQUAL 4)
    message(FATAL_ERROR "losses.csv has ${count} lines after resuming to epoch 3, expected 4:\n${lines}")
  endif()
  expect_csv_row("${lines}" 3 3 ${step3})
  file(SHA256 "${OUT}/checkpoint.vgck" whole)
  file(SHA256 "${SPLIT}/checkpoint.vgck" pieces)
  if(NOT whole STREQUAL pieces)
    message(FATAL_ERROR "3 epochs trained as 1 + 2 and as 2 + 1 give different checkpoints: resuming is not exact")
  endif()

  # -- the VAE-GAN with its default adversarial warm-up (1000 steps): these 8 steps are
  # all warm-up, so the discriminator's statistics are never computed. The progress lines
  # print them as "-", never "nan"; the CSV keeps writing nan for an epoch mean no step
  # computed.
  if(KIND STREQUAL "vaegan")
    set(WARMUP "${WORK_DIR}/warmup")
    run(warmup "${PROGRAM}" ${COMMON} --epochs 1 --out "${WARMUP}")
    expect_exit(warmup 0)
    expect_no_nan(warmup)
    expect_in(warmup out "step 1/${STEPS_PER_EPOCH} epoch 1/1 loss_d -")
    expect_in(warmup out "step ${STEPS_PER_EPOCH}/${STEPS_PER_EPOCH} epoch 1/1 loss_d -")
    read_lines("${WARMUP}/losses.csv" lines)
    list(GET lines 0 header)
    list(GET lines 1 row)
    if(NOT header MATCHES "^epoch,step,train_seconds,loss_d," OR NOT row MATCHES "^1,${STEPS_PER_EPOCH},[^,]+,nan,")
      message(FATAL_ERROR "losses.csv of an all-warm-up epoch: expected loss_d written as nan:\n${lines}")
    endif()
  endif()

  # -- sample from the checkpoint: 10 images as IDX, a PNG grid, reconstructions
  set(SAMPLES "${WORK_DIR}/samples")
  file(MAKE_DIRECTORY "${SAMPLES}")
  run(sample "${SAMPLER}" --checkpoint "${OUT}/checkpoint.vgck" -n 10 --idx "${SAMPLES}/generated.idx"
      --png "${SAMPLES}/generated.png" --threads 1)
  expect_exit(sample 0)
  expect_in(sample out "${KIND} checkpoint at step ${step3}")
  expect_idx_images("${SAMPLES}/generated.idx" 10)
  expect_png("${SAMPLES}/generated.png")
  set(recon_args --checkpoint "${OUT}/checkpoint.vgck" --threads 1 --images "${DATA}/t10k-images-idx3-ubyte"
                 --idx "${SAMPLES}/reconstructed.idx")
  run(recon "${RECONSTRUCTOR}" ${recon_args})
  if(reconstructs)
    expect_exit(recon 0)
    expect_idx_images("${SAMPLES}/reconstructed.idx" ${TEST_COUNT})
  else()
    # A GAN has no encoder: asking for reconstructions is an error, not a crash.
    expect_error(recon 1 "needs a checkpoint with an encoder (vae or vaegan)")
  endif()
  run(interpolate "${VAEGAN}" interpolate --checkpoint "${OUT}/checkpoint.vgck" --threads 1 --pairs 2 --steps 5
      --png "${SAMPLES}/interpolation.png")
  expect_exit(interpolate 0)
  expect_png("${SAMPLES}/interpolation.png")

  # -- another model refuses this checkpoint, naming both kinds, and writes nothing
  set(OTHER_OUT "${WORK_DIR}/other-out")
  run(other "${OTHER_PROGRAM}" ${COMMON} --epochs 4 --out "${OTHER_OUT}" --resume
      --checkpoint "${OUT}/checkpoint.vgck")
  expect_exit(other 1)
  expect_in(other err "holds a ${KIND} trainer")
  expect_in(other err "trains a ${OTHER_KIND}")
  file(GLOB written "${OTHER_OUT}/*")
  if(written)
    message(FATAL_ERROR "a refused --resume left files behind: ${written}")
  endif()

elseif(MODE STREQUAL "bad_input")
  set(OUT "${WORK_DIR}/out")

  # -- usage errors: exit 2, one line naming the problem, nothing written
  run(flag "${PROGRAM}" ${OWN} --out "${OUT}" --no-such-flag 3)
  expect_exit(flag 2)
  expect_one_line_on_stderr(flag)
  expect_in(flag err "--no-such-flag")

  run(batch0 "${PROGRAM}" ${OWN} --out "${OUT}" --batch-size 0)
  expect_exit(batch0 2)
  expect_one_line_on_stderr(batch0)
  expect_in(batch0 err "--batch-size")

  run(batch_neg "${PROGRAM}" ${OWN} --out "${OUT}" --batch-size -5)
  expect_error(batch_neg 2 "--batch-size must be >= 1" "got -5")

  run(nonumber "${PROGRAM}" ${OWN} --out "${OUT}" --epochs two)
  expect_exit(nonumber 2)
  expect_one_line_on_stderr(nonumber)
  expect_in(nonumber err "--epochs")

  math(EXPR too_big "${TRAIN_COUNT} + 1")
  run(bigbatch "${PROGRAM}" ${OWN} --out "${OUT}" --batch-size ${too_big})
  expect_exit(bigbatch 2)
  expect_one_line_on_stderr(bigbatch)
  expect_in(bigbatch err "larger than the training set (${TRAIN_COUNT} images)")

  run(preset "${PROGRAM}" ${OWN} --out "${OUT}" --preset huge)
  expect_exit(preset 2)
  expect_in(preset err "unknown model preset 'huge'")
  expect_missing("${OUT}")

  file(MAKE_DIRECTORY "${WORK_DIR}/a-directory")
  run(ckpt_dir "${PROGRAM}" ${OWN} --out "${OUT}" --checkpoint "${WORK_DIR}/a-directory")
  expect_error(ckpt_dir 2 "${WORK_DIR}/a-directory' is a directory" "--checkpoint")
  expect_missing("${OUT}")

  # -- runtime errors: exit 1 with a message naming the cause and the fix
  set(MISSING "${WORK_DIR}/no-mnist-here")
  run(nodata "${PROGRAM}" ${OWN} --data "${MISSING}" --out "${OUT}")
  expect_exit(nodata 1)
  expect_in(nodata err "${MISSING}")
  expect_in(nodata err "scripts/get_mnist.sh")
  expect_missing("${OUT}")  # nothing is created before the data is found

  set(BLOCKER "${WORK_DIR}/a-regular-file")
  file(WRITE "${BLOCKER}" "not a directory\n")
  run(under_file "${PROGRAM}" ${OWN} --out "${BLOCKER}/out")
  expect_error(under_file 1 "${BLOCKER}/out" "pass a writable --out")

  run(is_file "${PROGRAM}" ${OWN} --out "${BLOCKER}")
  expect_error(is_file 1 "${BLOCKER}" "pass a directory for --out")
  file(READ "${BLOCKER}" still)
  if(NOT still STREQUAL "not a directory\n")
    message(FATAL_ERROR "a failed run changed ${BLOCKER}")
  endif()

  # A --checkpoint whose directory does not exist: found after the output directory was
  # made, which the failed run removes again.
  run(ckpt_no_dir "${PROGRAM}" ${OWN} --out "${OUT}/a/b" --checkpoint "${WORK_DIR}/no-such-dir/c.vgck")
  expect_error(ckpt_no_dir 1 "${WORK_DIR}/no-such-dir/c.vgck' does not exist" "create it or pass another --checkpoint")
  expect_missing("${OUT}")

  run(data_is_file "${PROGRAM}" ${OWN} --data "${BLOCKER}" --out "${OUT}")
  expect_error(data_is_file 1 "--data '${BLOCKER}' is a file, not a directory" "pass --data with the directory")
  expect_missing("${OUT}")

  # An output directory without write permission. Root (and anyone with CAP_DAC_OVERRIDE)
  # writes into it anyway, so the case is skipped where a probe write succeeds.
  set(READ_ONLY "${WORK_DIR}/read-only")
  file(MAKE_DIRECTORY "${READ_ONLY}")
  if(CMAKE_VERSION VERSION_LESS 3.19)
    message(STATUS "${_program_name} bad_input: CMake < 3.19 has no file(CHMOD); skipping the read-only --out case")
  else()
    file(CHMOD "${READ_ONLY}" DIRECTORY_PERMISSIONS OWNER_READ OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                                    WORLD_READ WORLD_EXECUTE)
    execute_process(COMMAND "${CMAKE_COMMAND}" -E touch "${READ_ONLY}/probe"
                    RESULT_VARIABLE probe_rc OUTPUT_QUIET ERROR_QUIET)
    if(probe_rc EQUAL 0 AND EXISTS "${READ_ONLY}/probe")
      message(STATUS "${_program_name} bad_input: this user can write into a mode-0555 directory (root?); "
                     "skipping the read-only --out case")
    else()
      run(ro_inside "${PROGRAM}" ${OWN} --out "${READ_ONLY}/out")
      expect_error(ro_inside 1 "${READ_ONLY}/out" "pass a writable --out")
      run(ro_dir "${PROGRAM}" ${OWN} --out "${READ_ONLY}")
      expect_error(ro_dir 1 "'${READ_ONLY}' is not writable" "pass a writable --out")
      file(GLOB written "${READ_ONLY}/*" "${READ_ONLY}/.*")
      if(written)
        message(FATAL_ERROR "a failed run wrote into the read-only directory: ${written}")
      endif()
    endif()
    file(CHMOD "${READ_ONLY}" DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
  endif()

  # -- data of the wrong type or size: a copy of the dataset with one file replaced. Each
  # run exits 1 naming the file, the problem and the fix, and creates no output directory.
  function(bad_data name file source)
    set(_dir "${WORK_DIR}/data-${name}")
    file(REMOVE_RECURSE "${_dir}")
    file(MAKE_DIRECTORY "${_dir}")
    foreach(_f train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
      configure_file("${DATA}/${_f}" "${_dir}/${_f}" COPYONLY)
    endforeach()
    if(NOT source STREQUAL "")
      configure_file("${source}" "${_dir}/${file}" COPYONLY)
    endif()
    set(BAD "${_dir}" PARENT_SCOPE)
  endfunction()
  set(IMAGES train-images-idx3-ubyte)
  set(LABELS train-labels-idx1-ubyte)

  bad_data(labels-as-images ${IMAGES} "${DATA}/${LABELS}")  # an idx1 labels file as the images
  run(labels_as_images "${PROGRAM}" ${OWN} --data "${BAD}" --out "${OUT}")
  expect_error(labels_as_images 1 "${BAD}/${IMAGES}" "labels file" "scripts/get_mnist.sh")
  expect_missing("${OUT}")

  bad_data(swapped ${IMAGES} "${DATA}/${LABELS}")  # images and labels swapped
  configure_file("${DATA}/${IMAGES}" "${BAD}/${LABELS}" COPYONLY)
  run(swapped "${PROGRAM}" ${OWN} --data "${BAD}" --out "${OUT}")
  expect_error(swapped 1 "${BAD}/${IMAGES}" "swapped" "scripts/get_mnist.sh")
  expect_missing("${OUT}")

  bad_data(png ${IMAGES} "${DATA_PNG}")  # a PNG renamed to the IDX name
  run(png "${PROGRAM}" ${OWN} --data "${BAD}" --out "${OUT}")
  expect_error(png 1 "${BAD}/${IMAGES}" "not an IDX file" "scripts/get_mnist.sh")
  expect_missing("${OUT}")

  file(WRITE "${WORK_DIR}/text-file" "0,0,0,12,255,255\n1,2,3\n")  # a text file renamed to the IDX name
  bad_data(text ${IMAGES} "${WORK_DIR}/text-file")
  run(text "${PROGRAM}" ${OWN} --data "${BAD}" --out "${OUT}")
  expect_error(text 1 "${BAD}/${IMAGES}" "not an IDX file" "scripts/get_mnist.sh")
  expect_missing("${OUT}")

  # A gzip file whose content is not IDX: a .tar.gz of the text file.
  execute_process(COMMAND "${CMAKE_COMMAND}" -E tar czf "${WORK_DIR}/not-idx.tar.gz" text-file
                  WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE tar_rc)
  if(NOT tar_rc EQUAL 0)
    message(FATAL_ERROR "cmake -E tar czf failed (${tar_rc})")
  endif()
  bad_data(gzip ${IMAGES} "${WORK_DIR}/not-idx.tar.gz")
  run(gzip "${PROGRAM}" ${OWN} --data "${BAD}" --out "${OUT}")
  expect_error(gzip 1 "${BAD}/${IMAGES}" "not an IDX file" "scripts/get_mnist.sh")
  expect_missing("${OUT}")

  # Labels of another split: 200 labels for 256 images.
  set(OTHER_SPLIT "${WORK_DIR}/data-200")
  run(data200 "${MAKE_DATA}" "${OTHER_SPLIT}" 200 ${TEST_COUNT} 7)
  expect_exit(data200 0)
  bad_data(counts ${LABELS} "${OTHER_SPLIT}/${LABELS}")
  run(counts "${PROGRAM}" ${OWN} --data "${BAD}" --out "${OUT}")
  expect_error(counts 1 "200 labels" "${TRAIN_COUNT} images" "scripts/get_mnist.sh")
  expect_missing("${OUT}")

  # A preset takes the data's image shape, but the conv preset needs sides that halve
  # evenly twice: a complete, valid dataset of 30x30 images is refused before training.
  set(DATA30 "${WORK_DIR}/data-30x30")
  run(data30 "${MAKE_DATA}" "${DATA30}" ${TRAIN_COUNT} ${TEST_COUNT} 7 --side 30)
  expect_exit(data30 0)
  run(size30 "${PROGRAM}" ${OWN} --preset conv --data "${DATA30}" --out "${OUT}")
  expect_error(size30 1 "are 30x30, which the conv preset cannot take" "must divide by 4")
  expect_missing("${OUT}")
  set(DATA32 "${WORK_DIR}/data-32x32")
  run(data32 "${MAKE_DATA}" "${DATA32}" ${TRAIN_COUNT} ${TEST_COUNT} 7 --side 32)
  expect_exit(data32 0)

  # A download cut short (CMake >= 3.24 copies a prefix of a binary file).
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.24)
    copy_prefix("${DATA}/${IMAGES}" "${WORK_DIR}/truncated-images" 5000)
    bad_data(truncated ${IMAGES} "${WORK_DIR}/truncated-images")
    run(truncated "${PROGRAM}" ${OWN} --data "${BAD}" --out "${OUT}")
    expect_error(truncated 1 "${BAD}/${IMAGES}" "truncated" "scripts/get_mnist.sh")
    expect_missing("${OUT}")
  endif()

  run(noresume "${PROGRAM}" ${OWN} --out "${OUT}" --resume)
  expect_error(noresume 1 "no checkpoint at" "train without --resume first")
  expect_missing("${OUT}")

  # -- a NaN in training: resume a good checkpoint with a learning rate that blows up. The
  # step, the loss and the network are named, and every file the good run wrote, the
  # checkpoint first, is left byte for byte as it was.
  set(NAN_OUT "${WORK_DIR}/nan")
  run(nan_good "${PROGRAM}" ${OWN} --epochs 2 --out "${NAN_OUT}")
  expect_exit(nan_good 0)
  file(SHA256 "${NAN_OUT}/checkpoint.vgck" good_checkpoint)
  snapshot("${NAN_OUT}" good_files)
  math(EXPR saved_step "2 * ${STEPS_PER_EPOCH}")
  run(nan "${PROGRAM}" ${OWN} --epochs 3 --out "${NAN_OUT}" --resume --lr 1e30)
  expect_error(nan 1 "training stopped: step " "lower the learning rates"
               "the checkpoint ${NAN_OUT}/checkpoint.vgck (step ${saved_step}) is kept unchanged")
  expect_match(nan err "step ([0-9]+): loss L_[A-Za-z]+ is -?(nan|inf) \\(trains [a-z ]+\\)" nan_step)
  if(nan_step LESS saved_step)
    fail(nan "the NaN is reported at step ${nan_step}, before the resumed step ${saved_step}")
  endif()
  file(SHA256 "${NAN_OUT}/checkpoint.vgck" after_checkpoint)
  if(NOT after_checkpoint STREQUAL good_checkpoint)
    message(FATAL_ERROR "the run that hit a NaN changed the checkpoint")
  endif()
  snapshot("${NAN_OUT}" after_files)
  if(NOT after_files STREQUAL good_files)
    message(FATAL_ERROR "the run that hit a NaN changed the output directory:\nbefore: ${good_files}\n"
                        "after: ${after_files}")
  endif()
  # The same with --check-numerics, which names the op that made the first NaN or infinity.
  run(nan_checked "${PROGRAM}" ${OWN} --epochs 3 --out "${NAN_OUT}" --resume --lr 1e30 --check-numerics)
  expect_error(nan_checked 1 "training stopped: step " "first non-finite"
               "the checkpoint ${NAN_OUT}/checkpoint.vgck (step ${saved_step}) is kept unchanged")
  snapshot("${NAN_OUT}" after_files)
  if(NOT after_files STREQUAL good_files)
    message(FATAL_ERROR "the --check-numerics run that hit a NaN changed the output directory")
  endif()
  set(GOOD_CHECKPOINT "${NAN_OUT}/checkpoint.vgck")

  # -- the sampler: a missing and a damaged checkpoint
  run(sample_missing "${SAMPLER}" --checkpoint "${WORK_DIR}/none.vgck" --idx "${WORK_DIR}/s.idx")
  expect_exit(sample_missing 1)
  expect_in(sample_missing err "${WORK_DIR}/none.vgck")
  expect_missing("${WORK_DIR}/s.idx")

  file(WRITE "${WORK_DIR}/garbage.vgck" "this is not a checkpoint, just text that is long enough to read")
  run(sample_garbage "${SAMPLER}" --checkpoint "${WORK_DIR}/garbage.vgck" --idx "${WORK_DIR}/s.idx")
  expect_exit(sample_garbage 1)
  expect_error(sample_garbage 1 "not a vaegan checkpoint" "pass --checkpoint a file that")
  expect_missing("${WORK_DIR}/s.idx")

  run(sample_nothing "${SAMPLER}" --checkpoint "${WORK_DIR}/garbage.vgck")
  expect_exit(sample_nothing 2)
  expect_one_line_on_stderr(sample_nothing)
  expect_in(sample_nothing err "nothing to write")

  # -- the sampler, more: each error is one line with the fix, and nothing is written
  set(SAMPLE_OUT "${WORK_DIR}/s.idx")

  run(sample_idx_ckpt "${SAMPLER}" --checkpoint "${DATA}/${IMAGES}" --idx "${SAMPLE_OUT}")
  expect_error(sample_idx_ckpt 1 "${DATA}/${IMAGES}" "not a vaegan checkpoint")
  expect_missing("${SAMPLE_OUT}")

  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.24)
    copy_prefix("${GOOD_CHECKPOINT}" "${WORK_DIR}/truncated.vgck" 100000)
    run(sample_truncated "${SAMPLER}" --checkpoint "${WORK_DIR}/truncated.vgck" --idx "${SAMPLE_OUT}")
    expect_error(sample_truncated 1 "${WORK_DIR}/truncated.vgck" "truncated")
    expect_missing("${SAMPLE_OUT}")
  endif()

  run(sample_count "${SAMPLER}" --checkpoint "${GOOD_CHECKPOINT}" --idx "${SAMPLE_OUT}" --samples -3)
  expect_error(sample_count 2 "--samples must be 1..1000000")
  expect_missing("${SAMPLE_OUT}")

  run(sample_no_dir "${SAMPLER}" --checkpoint "${GOOD_CHECKPOINT}" --idx "${WORK_DIR}/no-such-dir/s.idx")
  expect_error(sample_no_dir 1 "'${WORK_DIR}/no-such-dir' does not exist" "create it first")
  expect_missing("${WORK_DIR}/no-such-dir")

  run(sample_out_dir "${SAMPLER}" --checkpoint "${GOOD_CHECKPOINT}" --idx "${WORK_DIR}/a-directory")
  expect_error(sample_out_dir 1 "is a directory" "pass a file name")

  run(sample_under_file "${SAMPLER}" --checkpoint "${GOOD_CHECKPOINT}" --png "${BLOCKER}/s.png")
  expect_error(sample_under_file 1 "'${BLOCKER}' is a file, not a directory" "write somewhere else")

  # Bad --images input fails before --idx is written (a GAN refuses to reconstruct).
  set(recon_args --checkpoint "${GOOD_CHECKPOINT}" --idx "${WORK_DIR}/r.idx")
  if(KIND STREQUAL "gan")
    run(recon_gan "${RECONSTRUCTOR}" ${recon_args} --images "${DATA}/t10k-images-idx3-ubyte")
    expect_error(recon_gan 1 "needs a checkpoint with an encoder (vae or vaegan)")
  else()
    run(recon_labels "${RECONSTRUCTOR}" ${recon_args} --images "${DATA}/${LABELS}")
    expect_error(recon_labels 1 "${DATA}/${LABELS}" "labels file" "--images takes an IDX images file")
    run(recon_size "${RECONSTRUCTOR}" ${recon_args} --images "${DATA32}/t10k-images-idx3-ubyte")
    expect_error(recon_size 1 "images are 32x32 but the model expects 28x28 (784 values)"
                 "pass --images an IDX file of 28x28 images")
  endif()
  expect_missing("${SAMPLE_OUT}")
  expect_missing("${WORK_DIR}/r.idx")
  expect_no_temporaries("${WORK_DIR}")

else()
  message(FATAL_ERROR "run_example_test.cmake: unknown MODE '${MODE}' (train or bad_input)")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
message(STATUS "${_program_name} ${MODE}: all checks passed")
