// Fast neural style transfer (Johnson et al.; FastStyleNet converted from Chainer): a content image
// from a file or the camera, a style from config.json's list, the stylized image on a canvas and the
// time per frame. Each style is a descriptor: RGB 0..255, channels first, in and out.
//
// config.json: {"styles": [{"name": ..., "model": descriptor folder}, ...]}; ?style=NAME picks one.

const runners = new Map();  // style name -> runner, loaded when first chosen
let styles = [];
let busy = false;
let camera = null;  // the MediaStream while the camera is on

async function runnerFor(name) {
  if (!runners.has(name)) {
    const style = styles.find((s) => s.name === name);
    runners.set(name, WebDNN.load(style.model));
  }
  return runners.get(name);
}

function inputSize(runner) {
  const [, , h, w] = runner.getInputViews()[0].shape;  // [1, 3, H, W]
  return [w, h];
}

function status(text) {
  document.getElementById('status').textContent = text;
}

async function stylize() {
  const runner = await runnerFor(document.getElementById('style').value);
  const [w, h] = inputSize(runner);
  const content = document.getElementById('content');
  if (content.width !== w || content.height !== h) throw new Error(`content canvas is not ${w}×${h}`);
  const t0 = performance.now();
  const x = await WebDNN.Image.getImageArray(content, { dstW: w, dstH: h, order: 'CHW', color: 'RGB' });
  runner.getInputViews()[0].set(x);
  await runner.run();
  const y = runner.getOutputViews()[0].toActual();
  WebDNN.Image.setImageArrayToCanvas(y, w, h, document.getElementById('output'), { order: 'CHW', color: 'RGB' });
  const ms = performance.now() - t0;
  status(`${runner.backendName}: ${ms.toFixed(0)} ms per frame (${w}×${h})`);
  document.body.dataset.runs = String(Number(document.body.dataset.runs || 0) + 1);
  document.title = 'done';
}

// draws `source` (an image, a bitmap or the video) into the content canvas at the model's size
async function drawContent(source, sw, sh) {
  const runner = await runnerFor(document.getElementById('style').value);
  const [w, h] = inputSize(runner);
  const canvas = document.getElementById('content');
  canvas.width = w;
  canvas.height = h;
  // cover: scale to fill, crop the overflow
  const s = Math.max(w / sw, h / sh);
  const dw = sw * s, dh = sh * s;
  canvas.getContext('2d').drawImage(source, (w - dw) / 2, (h - dh) / 2, dw, dh);
}

async function drawPattern() {
  const runner = await runnerFor(document.getElementById('style').value);
  const [w, h] = inputSize(runner);
  const canvas = document.getElementById('content');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  const g = ctx.createLinearGradient(0, 0, w, h);
  g.addColorStop(0, '#87bba2');
  g.addColorStop(1, '#364958');
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = '#f4a259';
  ctx.beginPath();
  ctx.arc(w / 2, h / 2, Math.min(w, h) / 3, 0, 2 * Math.PI);
  ctx.fill();
}

async function once(prepare) {
  if (busy) return;
  busy = true;
  try {
    await prepare();
    await stylize();
  } catch (e) {
    fail(e);
  } finally {
    busy = false;
  }
}

function fail(e) {
  status('Error: ' + e.message);
  document.title = 'error';
}

async function cameraLoop() {
  const video = document.getElementById('video');
  while (camera) {
    if (!busy && video.readyState >= 2) await once(() => drawContent(video, video.videoWidth, video.videoHeight));
    await new Promise((r) => requestAnimationFrame(r));
  }
}

async function toggleCamera() {
  const button = document.getElementById('camera');
  if (camera) {
    camera.getTracks().forEach((t) => t.stop());
    camera = null;
    button.textContent = 'Use the camera';
    return;
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error('this browser gives pages no camera');
  camera = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  const video = document.getElementById('video');
  video.srcObject = camera;
  await video.play();
  button.textContent = 'Stop the camera';
  cameraLoop();
}

async function main() {
  const res = await fetch('config.json');
  if (!res.ok) throw new Error('config.json is missing');
  styles = (await res.json()).styles || [];
  if (!styles.length) throw new Error('config.json lists no styles');
  const select = document.getElementById('style');
  for (const s of styles) select.add(new Option(s.name, s.name));
  const wanted = new URLSearchParams(location.search).get('style');
  if (wanted && styles.some((s) => s.name === wanted)) select.value = wanted;
  select.onchange = () => once(async () => {
    const content = document.getElementById('content');
    const bitmap = await createImageBitmap(content);  // keep the picture, at the new style's size
    await drawContent(bitmap, bitmap.width, bitmap.height);
  });
  document.getElementById('file').onchange = (ev) => {
    const file = ev.target.files[0];
    if (file) once(async () => { const b = await createImageBitmap(file); await drawContent(b, b.width, b.height); });
  };
  document.getElementById('camera').onclick = () => toggleCamera().catch(fail);
  if (!navigator.mediaDevices) document.getElementById('camera').disabled = true;
  await once(drawPattern);
}

main().catch(fail);
