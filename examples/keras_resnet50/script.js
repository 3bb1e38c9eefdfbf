// The getting-started page: the original's JavaScript, unchanged, plus where the image comes from
// (loadImageData) and a view of the result.

let runner;
async function init() {
  // Initialize descriptor runner
  runner = await WebDNN.load('./output');
}
async function run() {
  // Set the value into input variable.
  runner.getInputViews()[0].set(loadImageData());
  // Run
  await runner.run();
  // Show the result
  console.log('Output', WebDNN.Math.argmax(runner.getOutputViews()[0].toActual()));
}

// ---- the input: [1, 224, 224, 3] float32, channels last, Keras' ResNet50 preprocessing --------------
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
  // keras.applications.resnet50.preprocess_input: BGR, ImageNet mean subtracted, no scaling
  imageData = await WebDNN.Image.getImageArray(document.getElementById('image'), {
    dstW: 224, dstH: 224, order: 'HWC', color: 'BGR', bias: [103.939, 116.779, 123.68],
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

function show(ms) {
  const probs = runner.getOutputViews()[0].toActual();
  const top = WebDNN.Math.argmax(probs, 5);
  const list = document.getElementById('top5');
  list.textContent = '';
  for (const k of top) {
    const li = document.createElement('li');
    li.textContent = `class ${k}: ${(100 * probs[k]).toFixed(2)} %`;
    list.appendChild(li);
  }
  document.getElementById('status').textContent = `${runner.backendName}: ${ms.toFixed(0)} ms`;
  document.title = `done ${top[0]}`;
}

async function main() {
  const t0 = performance.now();
  await prepareInput();
  await run();
  show(performance.now() - t0);
}

function fail(e) {
  document.getElementById('status').textContent = 'Error: ' + e.message;
  document.title = 'error';
}

document.getElementById('file').onchange = (ev) => {
  if (ev.target.files.length) drawFile(ev.target.files[0]).then(main).catch(fail);
};
drawPattern();
init().then(main).catch(fail);
