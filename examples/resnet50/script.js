// The ResNet50 classification page: the original's JavaScript (init, run), plus where the image
// comes from (loadImageData), the preprocessing the converted model expects and a view of the top 5.
//
// config.json (overridden by URL parameters of the same names, e.g. ?preprocess=caffe):
//   model       the descriptor folder
//   preprocess  "keras" (converted from keras.applications' ResNet50) or "caffe" (He et al.'s Caffe
//               ResNet-50), or an object {order, color, bias, scale, size} for getImageArray
//   labels      optional: a JSON array of the 1000 class names, or Caffe's synset_words.txt

const PRESETS = {
  // keras.applications.resnet50.preprocess_input: BGR, ImageNet mean subtracted, channels last
  keras: { order: 'HWC', color: 'BGR', bias: [103.939, 116.779, 123.68], size: 224 },
  // the Caffe model: BGR, channels first, its mean image (ResNet_mean.binaryproto) as per-channel means
  caffe: { order: 'CHW', color: 'BGR', bias: [104.0, 117.0, 123.0], size: 224 },
};

let runner;
let config;
let labels = null;
async function init() {
  config = await loadConfig();
  // Initialize descriptor runner
  runner = await WebDNN.load(config.model);
  labels = await loadLabels(config.labels);
}
async function run() {
  // Set the value into input variable.
  runner.getInputViews()[0].set(loadImageData());
  // Run
  await runner.run();
  // Show the result
  console.log('Output', WebDNN.Math.argmax(runner.getOutputViews()[0].toActual()));
}

// ---- configuration -----------------------------------------------------------------------------------
async function loadConfig() {
  let c = { model: './output', preprocess: 'keras', labels: null };
  const res = await fetch('config.json');
  if (res.ok) c = { ...c, ...(await res.json()) };
  const params = new URLSearchParams(location.search);
  for (const key of ['model', 'preprocess', 'labels']) if (params.has(key)) c[key] = params.get(key);
  const pre = typeof c.preprocess === 'string' ? PRESETS[c.preprocess] : c.preprocess;
  if (!pre) throw new Error(`unknown preprocess '${c.preprocess}' (keras, caffe or an object)`);
  return { ...c, pre: { size: 224, ...pre } };
}

async function loadLabels(url) {
  if (!url) return null;
  const res = await fetch(url);
  if (!res.ok) return null;
  const text = await res.text();
  if (text.trimStart().startsWith('[')) return JSON.parse(text);
  // synset_words.txt: "n01440764 tench, Tinca tinca" per line
  return text.split('\n').filter((l) => l.trim()).map((l) => l.replace(/^n\d+\s+/, ''));
}

// ---- the input ---------------------------------------------------------------------------------------
let imageData;
function loadImageData() {
  return imageData;
}

async function prepareInput() {
  const raw = new URLSearchParams(location.search).get('input');
  if (raw) {  // a raw little-endian float32 file, already preprocessed (how the tests feed the page)
    imageData = new Float32Array(await (await fetch(raw)).arrayBuffer());
    return;
  }
  const { order, color, bias, scale, size } = config.pre;
  imageData = await WebDNN.Image.getImageArray(document.getElementById('image'), {
    dstW: size, dstH: size, order, color, bias, scale,
  });
}

function drawPattern() {
  const ctx = document.getElementById('image').getContext('2d');
  const g = ctx.createLinearGradient(0, 0, 224, 224);
  g.addColorStop(0, '#f4a259');
  g.addColorStop(1, '#2a6f97');
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, 224, 224);
  ctx.fillStyle = '#fff';
  ctx.beginPath();
  ctx.arc(112, 112, 60, 0, 2 * Math.PI);
  ctx.fill();
}

async function drawFile(file) {
  const bitmap = await createImageBitmap(file);
  document.getElementById('image').getContext('2d').drawImage(bitmap, 0, 0, 224, 224);
}

// ---- the result --------------------------------------------------------------------------------------
function show(ms) {
  const probs = runner.getOutputViews()[0].toActual();
  const top = WebDNN.Math.argmax(probs, 5);
  const table = document.getElementById('top5');
  table.textContent = '';
  for (const k of top) {
    const row = table.insertRow();
    row.insertCell().textContent = labels && labels[k] ? labels[k] : `class ${k}`;
    row.insertCell().textContent = `${(100 * probs[k]).toFixed(2)} %`;
    const bar = document.createElement('div');
    bar.style.width = `${Math.max(1, 100 * probs[k])}%`;
    const cell = row.insertCell();
    cell.className = 'bar';
    cell.appendChild(bar);
  }
  document.getElementById('status').textContent = `${runner.backendName}: ${ms.toFixed(0)} ms`;
  document.body.dataset.runs = String(Number(document.body.dataset.runs || 0) + 1);
  document.title = `done ${top[0]}`;
}

async function main() {
  document.getElementById('status').textContent = 'Running…';
  const t0 = performance.now();
  await prepareInput();
  await run();
  show(performance.now() - t0);
}

function fail(e) {
  document.getElementById('status').textContent = 'Error: ' + e.message;
  document.title = 'error';
}

function classify(file) {
  drawFile(file).then(main).catch(fail);
}

document.getElementById('file').onchange = (ev) => {
  if (ev.target.files.length) classify(ev.target.files[0]);
};
const drop = document.getElementById('drop');
drop.ondragover = (ev) => { ev.preventDefault(); drop.classList.add('over'); };
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  if (ev.dataTransfer.files.length) classify(ev.dataTransfer.files[0]);
};
drawPattern();
init().then(main).catch(fail);
