#!/usr/bin/env node
// The ONNX Runtime side of libdataparallel's benchmarks: onnxruntime-node on the CPU execution
// provider, driven by benchmarks/ort_baseline.py (which exports the models, checks the numerics
// against PyTorch first, and owns the stream source, partitioners and metrics).
//
//   node ort_worker.js version
//   node ort_worker.js check --model M.onnx --input X.bin --shape N,C,H,W --output Y.bin
//   node ort_worker.js infer --model M.onnx --batch B --size S [--threads T] [--seconds 5]
//                            [--warmup 1] [--repeats 5] [--seed 0]
//   node ort_worker.js serve --model M.onnx --data D.bin --size S [--threads T] [--warm 1,2,...]
//
// check: logits of the float32 NCHW tensor in X.bin written to Y.bin (float32, row-major).
// infer: one JSON line on stdout; each of --repeats windows of --seconds/--repeats is timed on
//   its own (wall and process CPU), after --warmup seconds (at least one run) of untimed runs.
//   The input tensor is created once, outside the timed loop, as a user serving a fixed batch
//   size would.
// serve: one stream worker. D.bin holds the data set (float32 [N,3,S,S]). Requests on stdin,
//   replies on stdout, little-endian:
//     int32 n > 0, then n int32 image indices -> int64 t_start_ns, int64 t_end_ns, int32 status
//                                                (0 ok), int32 n, then n int32 top-1 classes
//     int32 0                                  -> float64 CPU seconds so far, float64 peak RSS MiB
//     int32 -1 (or end of input)               -> exit
//   t_start/t_end are CLOCK_MONOTONIC (process.hrtime is libuv's uv_hrtime), the clock the
//   Python side uses, and bracket gathering the batch, the run and the top-1: what PyTorch's
//   workers time. A 4-byte "RDY\n" on stdout says the session is built and warmed up.
'use strict';

const fs = require('fs');

// Loaded lazily: `version` must explain a missing package instead of throwing at require time.
function ort() {
  return require('onnxruntime-node');
}

// The settings a user tuning ORT for CPU inference would choose: the CPU execution provider,
// every graph optimisation (constant folding, Conv+BN/Conv+activation fusion, NCHWc layouts on
// AVX-512), the requested number of intra-op threads and no inter-op parallelism (the graph is a
// chain; libdataparallel and PyTorch run it sequentially too).
function sessionOptions(threads) {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  };
}

function fail(msg) {
  process.stderr.write(`ort_worker.js: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv, spec) {
  const out = { ...spec }; // undefined: required
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !(key in spec)) fail(`unknown option '${argv[i]}'`);
    if (i + 1 >= argv.length) fail(`${argv[i]} needs a value`);
    out[key] = argv[i + 1];
  }
  for (const k of Object.keys(spec)) if (out[k] === undefined) fail(`--${k} is required`);
  return out;
}

function positiveInt(name, s) {
  const v = Number(s);
  if (!Number.isInteger(v) || v < 1) fail(`--${name}: expected a positive integer, got '${s}'`);
  return v;
}

function nonNegative(name, s) {
  const v = Number(s);
  if (!(v >= 0) || !Number.isFinite(v)) fail(`--${name}: expected a number >= 0, got '${s}'`);
  return v;
}

const nowNs = () => process.hrtime.bigint();
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const peakRssMiB = () => process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB

async function createSession(model, threads) {
  return ort().InferenceSession.create(model, sessionOptions(threads));
}

// A float32 file as a Float32Array (copied: a Buffer's offset in its pool need not be aligned).
function readFloats(path) {
  const buf = fs.readFileSync(path);
  if (buf.length % 4) fail(`${path}: ${buf.length} bytes is not a whole number of float32 values`);
  const out = new Float32Array(buf.length / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

async function cmdCheck(a) {
  const shape = a.shape.split(',').map((d) => positiveInt('shape', d));
  const x = readFloats(a.input);
  if (x.length !== shape.reduce((p, d) => p * d, 1)) fail(`${a.input}: ${x.length} values do not fill [${shape}]`);
  const session = await createSession(a.model, positiveInt('threads', a.threads));
  const ortm = ort();
  const out = await session.run({ [session.inputNames[0]]: new ortm.Tensor('float32', x, shape) });
  const y = out[session.outputNames[0]];
  fs.writeFileSync(a.output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  process.stdout.write(JSON.stringify({ dims: y.dims }) + '\n');
}

async function cmdInfer(a) {
  const batch = positiveInt('batch', a.batch), size = positiveInt('size', a.size);
  const threads = positiveInt('threads', a.threads), repeats = positiveInt('repeats', a.repeats);
  const seconds = nonNegative('seconds', a.seconds), warmup = nonNegative('warmup', a.warmup);
  const t0 = nowNs();
  const session = await createSession(a.model, threads);
  const createS = Number(nowNs() - t0) / 1e9;
  // Uniform in [-1, 1) from a seeded xorshift32, like the input of `dp-bench infer` (the values
  // do not change the work; a fixed seed keeps runs comparable).
  const x = new Float32Array(batch * 3 * size * size);
  let st = (positiveInt('seed', Number(a.seed) + 1) * 2654435761) >>> 0 || 1;
  for (let i = 0; i < x.length; i++) {
    st ^= st << 13;
    st ^= st >>> 17;
    st ^= st << 5;
    x[i] = (st >>> 8) / 8388608 - 1;
  }
  const ortm = ort();
  const feeds = { [session.inputNames[0]]: new ortm.Tensor('float32', x, [batch, 3, size, size]) };

  let t = nowNs();
  await session.run(feeds);
  const firstMs = Number(nowNs() - t) / 1e6;
  const warmEnd = t + BigInt(Math.round(warmup * 1e9));
  while (nowNs() < warmEnd) await session.run(feeds);
  const warmupS = Number(nowNs() - t) / 1e9;

  const windows = [];
  const windowNs = BigInt(Math.round((seconds / repeats) * 1e9));
  for (let r = 0; r < repeats; r++) {
    const c0 = cpuSeconds();
    const w0 = nowNs(), end = w0 + windowNs;
    let it = 0;
    do {
      await session.run(feeds);
      it++;
      t = nowNs();
    } while (t < end);
    const s = Number(t - w0) / 1e9;
    windows.push({ iterations: it, seconds: s, cpu_seconds: cpuSeconds() - c0, img_per_s: (it * batch) / s });
  }
  process.stdout.write(JSON.stringify({
    onnxruntime: ortm.env.versions.node || ortm.env.versions.common, node: process.versions.node,
    session_options: sessionOptions(threads), session_create_s: createS, first_run_ms: firstMs,
    warmup_s: warmupS, windows,
  }) + '\n');
}

// Exactly n bytes from a blocking fd; null at end of input.
function readExact(fd, n) {
  const buf = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    let r;
    try {
      r = fs.readSync(fd, buf, got, n - got, null);
    } catch (e) {
      if (e.code === 'EAGAIN') continue; // a non-blocking pipe: poll again
      throw e;
    }
    if (r === 0) return null;
    got += r;
  }
  return buf;
}

function writeAll(fd, buf) {
  for (let off = 0; off < buf.length;) off += fs.writeSync(fd, buf, off);
}

async function cmdServe(a) {
  const size = positiveInt('size', a.size), threads = positiveInt('threads', a.threads);
  const data = readFloats(a.data), per = 3 * size * size;
  if (data.length === 0 || data.length % per) fail(`${a.data}: not a whole number of [3,${size},${size}] images`);
  const images = data.length / per;
  const session = await createSession(a.model, threads);
  const ortm = ort();
  const input = session.inputNames[0], output = session.outputNames[0];
  const buffers = new Map(); // batch size -> its input buffer, reused (warm-up creates them)
  const run = async (idx) => {
    const n = idx.length;
    let x = buffers.get(n);
    if (!x) buffers.set(n, (x = new Float32Array(n * per)));
    for (let i = 0; i < n; i++) {
      if (!(idx[i] >= 0 && idx[i] < images)) throw new Error(`image index ${idx[i]} is outside 0..${images - 1}`);
      x.set(data.subarray(idx[i] * per, (idx[i] + 1) * per), i * per);
    }
    const y = (await session.run({ [input]: new ortm.Tensor('float32', x, [n, 3, size, size]) }))[output];
    const k = y.dims[1], top = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (y.data[i * k + j] > y.data[i * k + best]) best = j;
      top[i] = best;
    }
    return top;
  };
  for (const b of a.warm.split(',').filter(Boolean).map((s) => positiveInt('warm', s)))
    for (let r = 0; r < 3; r++) await run(Array.from({ length: b }, (_, i) => i % images));
  writeAll(1, Buffer.from('RDY\n'));

  for (;;) {
    const head = readExact(0, 4);
    const n = head ? head.readInt32LE(0) : -1;
    if (n < 0) break;
    if (n === 0) {
      const r = Buffer.alloc(16);
      r.writeDoubleLE(cpuSeconds(), 0);
      r.writeDoubleLE(peakRssMiB(), 8);
      writeAll(1, r);
      continue;
    }
    const body = readExact(0, 4 * n);
    if (!body) break;
    const idx = Array.from({ length: n }, (_, i) => body.readInt32LE(4 * i));
    const tStart = nowNs();
    let top = null;
    try {
      top = await run(idx);
    } catch (e) {
      process.stderr.write(`ort_worker.js: inference failed: ${e.message}\n`);
    }
    const tEnd = nowNs();
    const m = top ? top.length : 0;
    const r = Buffer.alloc(24 + 4 * m);
    r.writeBigInt64LE(tStart, 0);
    r.writeBigInt64LE(tEnd, 8);
    r.writeInt32LE(top ? 0 : 1, 16);
    r.writeInt32LE(m, 20);
    for (let i = 0; i < m; i++) r.writeInt32LE(top[i], 24 + 4 * i);
    writeAll(1, r);
  }
}

function cmdVersion() {
  let v;
  try {
    v = ort().env.versions;
  } catch (e) {
    process.stdout.write(JSON.stringify({ node: process.versions.node, error: e.message.split('\n')[0] }) + '\n');
    process.exit(3);
  }
  process.stdout.write(JSON.stringify({ node: process.versions.node, onnxruntime: v.node || v.common }) + '\n');
}

const COMMANDS = {
  version: [() => cmdVersion(), {}],
  check: [cmdCheck, { model: undefined, input: undefined, shape: undefined, output: undefined, threads: '1' }],
  infer: [cmdInfer, { model: undefined, batch: '1', size: '32', threads: '1', seconds: '5', warmup: '1',
                      repeats: '5', seed: '0' }],
  serve: [cmdServe, { model: undefined, data: undefined, size: undefined, threads: '1', warm: '1' }],
};

const [cmd, ...rest] = process.argv.slice(2);
if (!COMMANDS[cmd] || rest.includes('--help')) {
  process.stderr.write(`usage: node ort_worker.js ${Object.keys(COMMANDS).join('|')} [--option value ...]` +
                       ' (see the head of this file)\n');
  process.exit(cmd === '--help' || rest.includes('--help') ? 0 : 2);
}
const [fn, spec] = COMMANDS[cmd];
Promise.resolve(fn(parseArgs(rest, spec))).catch((e) => {
  process.stderr.write(`ort_worker.js ${cmd}: ${e.message}\n`);
  process.exit(1);
});
