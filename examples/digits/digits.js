// The digits demo page: the seed's API (load, set the input view, run, argmax of the output view).
let runner, samples, runs = 0;

async function init() {
  samples = await (await fetch('samples.json')).json();
  document.title = 'loading';
  if (runner) runner.dispose();
  const order = document.getElementById('order').value;
  runner = await WebDNN.load('.', {
    backendOrder: order ? order.split(',') : undefined, // undefined: the runtime's default order
    progressCallback: (loaded, total) => status(`Loading weights ${loaded}/${total} bytes`),
  });
  status(`Loaded; backend: ${runner.backendName}`);
}

function status(text) { document.getElementById('status').textContent = text; }

async function run() {
  // the seed's flow: set the input view, run, read the output view
  runner.getInputViews()[0].set(samples.x.flat());
  const t0 = performance.now();
  await runner.run();
  const ms = performance.now() - t0;
  const probs = runner.getOutputViews()[0].toActual();
  const n = samples.y.length, grid = document.getElementById('grid');
  grid.textContent = '';
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const [pred] = WebDNN.Math.argmax(probs.subarray(i * 10, i * 10 + 10));
    if (pred === samples.y[i]) correct++;
    if (i < 96) grid.appendChild(digit(samples.x[i], pred, samples.y[i]));
  }
  status(`${runner.backendName}: ${correct}/${n} correct (${(100 * correct / n).toFixed(1)} %), ` +
         `${ms.toFixed(1)} ms for the batch`);
  document.title = `done ${correct}/${n} (run ${++runs})`;
}

function digit(pixels, pred, label) {
  const fig = document.createElement('figure'), c = document.createElement('canvas');
  c.width = c.height = 8;
  const ctx = c.getContext('2d'), img = ctx.createImageData(8, 8);
  pixels.forEach((v, j) => { const g = 255 - Math.round(v * 255); img.data.set([g, g, g, 255], j * 4); });
  ctx.putImageData(img, 0, 0);
  const cap = document.createElement('figcaption');
  cap.textContent = `${pred}`;
  if (pred !== label) { cap.className = 'wrong'; cap.textContent += ` (${label})`; }
  fig.append(c, cap);
  return fig;
}

document.getElementById('run').onclick = () => init().then(run).catch(e => status('Error: ' + e.message));
init().then(run).catch(e => status('Error: ' + e.message));
