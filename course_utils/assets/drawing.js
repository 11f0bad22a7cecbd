/*
 * "Draw a character": the course's CNN running in the reader's browser.
 *
 * course_utils/drawing.py puts this file into the widget's HTML inside a function scope and
 * calls initDrawing(id, spec, weightsBase64) once per widget, so two widgets on one page
 * never share state. The only global is the test hook window.cvCourseDrawing[id].
 *
 * 1. Preprocessing, exactly as course_utils.data.load_image reads a training image: gray
 *    levels by Pillow's convert("L"), then Pillow's bilinear resize to the model's input
 *    size. A drawing is first made into such an image the way course_utils.handwriting makes
 *    the synthetic ones: dark strokes on white, cropped to the ink plus a 2-pixel margin.
 * 2. The forward pass: the layers drawing.py exports, written as the loops of lesson 1
 *    (rescaling, convolution, ReLU, max pooling, flatten, dense), then softmax.
 * 3. The interface: pointer events on a canvas, the top guesses, the first layer's maps.
 */
function initDrawing(id, spec, weightsBase64, tries) {
  "use strict";
  const root = document.getElementById(id);
  if (!root) {
    // Some notebook front ends run an output's scripts before they attach its HTML.
    if ((tries || 0) < 100) {
      setTimeout(() => initDrawing(id, spec, weightsBase64, (tries || 0) + 1), 50);
    }
    return;
  }
  const VIEW_W = 240, VIEW_H = 320; // the drawing area, CSS pixels
  const PEN = 12; // the on-screen pen width, CSS pixels
  const INK = 40; // grey level of the ink (the synthetic writers use 0 to 90)
  const HEIGHT = 90; // the drawing's height before the resize (writers: 60 to 120 pixels)
  const PEN_RANGE = [0.035, 0.085]; // pen width over character height, as the writers'
  const MARGIN = 2; // white pixels kept around the ink, as in the data
  const PAPER = 250; // lighter than this counts as paper when cropping to the ink
  const IN_H = spec.height, IN_W = spec.width;

  // ---- 1. Preprocessing -------------------------------------------------------------

  // Pillow's convert("L") (libImaging/Convert.c, L24): ITU-R 601-2 luma in 16-bit fixed point.
  function toGray(rgba, n) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
      out[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    }
    return out;
  }

  // Pillow's resampling weights (libImaging/Resample.c, precompute_coeffs): a triangle
  // filter, widened by the scale factor when shrinking, normalised, then fixed point with
  // 22 fraction bits. bounds[2i], bounds[2i + 1]: first input pixel and count for output i.
  function coefficients(inSize, outSize) {
    const scale = inSize / outSize;
    const filterscale = Math.max(scale, 1);
    const support = 1.0 * filterscale; // the bilinear filter's support is 1
    const ss = 1.0 / filterscale;
    const bounds = new Int32Array(2 * outSize), weights = [];
    for (let i = 0; i < outSize; i++) {
      const center = (i + 0.5) * scale;
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const count = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
      const w = new Float64Array(count);
      let total = 0;
      for (let x = 0; x < count; x++) {
        const t = Math.abs((x + xmin - center + 0.5) * ss);
        w[x] = t < 1 ? 1 - t : 0;
        total += w[x];
      }
      const k = new Int32Array(count);
      for (let x = 0; x < count; x++) {
        k[x] = Math.trunc(0.5 + (total !== 0 ? w[x] / total : w[x]) * 4194304);
      }
      bounds[2 * i] = xmin;
      bounds[2 * i + 1] = count;
      weights.push(k);
    }
    return { bounds, weights };
  }

  // A fixed-point sum back to a gray level, clipped to 0..255: Pillow's clip8.
  function clip8(sum) {
    return Math.min(255, Math.max(0, Math.floor(sum / 4194304)));
  }

  // One pass of Pillow's resize: every row to outW pixels (Horizontal_8bpc) or every
  // column to outH pixels (Vertical_8bpc), each sum rounded (the 1 << 21) and clipped.
  function pass(src, w, h, outW, outH) {
    const horizontal = outW !== w, c = horizontal ? coefficients(w, outW) : coefficients(h, outH);
    const out = new Uint8Array(outW * outH);
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        const i = horizontal ? x : y, start = c.bounds[2 * i], n = c.bounds[2 * i + 1];
        const k = c.weights[i];
        let sum = 1 << 21;
        for (let j = 0; j < n; j++) {
          sum += k[j] * (horizontal ? src[y * w + start + j] : src[(start + j) * w + x]);
        }
        out[y * outW + x] = clip8(sum);
      }
    }
    return out;
  }

  // Pillow's Image.resize(..., BILINEAR) of a gray image (ImagingResampleInner): two passes,
  // rounded in between, so their order matters. Pillow 13 goes vertically first when the
  // height shrinks much more than the width (python-pillow/Pillow#9549), earlier versions
  // always horizontally first; drawing.py tells which Pillow trained the model.
  function resize(src, w, h, outW, outH) {
    if (spec.heightFirst && w !== outW && h > outH && h - outH > 2 * (w - outW)) {
      return pass(pass(src, w, h, w, outH), w, outH, outW, outH);
    }
    const rows = outW !== w ? pass(src, w, h, outW, h) : src;
    return outH !== h ? pass(rows, outW, h, outW, outH) : rows.slice();
  }

  function makeCanvas(w, h) {
    const c = document.createElement("canvas");
    c.width = w;
    c.height = h;
    return c;
  }

  // An image (an <img>, ImageBitmap or canvas) as the network's input: put on white (as
  // load_image does with transparent images), gray, resized. A Uint8Array, row by row.
  function preprocess(source) {
    const w = source.naturalWidth || source.width, h = source.naturalHeight || source.height;
    const ctx = makeCanvas(w, h).getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    ctx.drawImage(source, 0, 0);
    return resize(toGray(ctx.getImageData(0, 0, w, h).data, w * h), w, h, IN_W, IN_H);
  }

  // An image file (a Blob) decoded without colour management, then preprocess.
  async function preprocessBlob(blob) {
    const bitmap = await createImageBitmap(blob, {
      colorSpaceConversion: "none", premultiplyAlpha: "none",
    });
    return preprocess(bitmap);
  }

  function paint(ctx, strokes, tx, ty, width, colour) {
    ctx.strokeStyle = ctx.fillStyle = colour;
    ctx.lineWidth = width;
    ctx.lineCap = ctx.lineJoin = "round";
    for (const s of strokes) {
      ctx.beginPath();
      if (s.length === 1) {
        ctx.arc(tx(s[0][0]), ty(s[0][1]), width / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.moveTo(tx(s[0][0]), ty(s[0][1]));
      for (let i = 1; i < s.length; i++) ctx.lineTo(tx(s[i][0]), ty(s[i][1]));
      ctx.stroke();
    }
  }

  // The strokes as a training-like image (course_utils.handwriting.render_character): the
  // character HEIGHT pixels tall whatever its size on screen, the pen within the writers'
  // range, dark on white, cropped to the ink plus MARGIN. Returns a canvas.
  function renderDrawing(strokes) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const s of strokes) {
      for (const [x, y] of s) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
    const scale = HEIGHT / Math.max(y1 - y0, 0.25 * (x1 - x0), 4);
    const pen = Math.min(Math.max(PEN * scale, PEN_RANGE[0] * HEIGHT), PEN_RANGE[1] * HEIGHT);
    const pad = pen / 2 + MARGIN + 1;
    const w = Math.ceil((x1 - x0) * scale + 2 * pad), h = Math.ceil((y1 - y0) * scale + 2 * pad);
    const ctx = makeCanvas(w, h).getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    const tx = (x) => (x - x0) * scale + pad, ty = (y) => (y - y0) * scale + pad;
    paint(ctx, strokes, tx, ty, pen, `rgb(${INK},${INK},${INK})`);
    const gray = toGray(ctx.getImageData(0, 0, w, h).data, w * h);
    let r0 = h, r1 = -1, c0 = w, c1 = -1;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (gray[y * w + x] < PAPER) {
          r0 = Math.min(r0, y); r1 = Math.max(r1, y);
          c0 = Math.min(c0, x); c1 = Math.max(c1, x);
        }
      }
    }
    if (r1 < 0) return ctx.canvas;
    r0 = Math.max(r0 - MARGIN, 0); r1 = Math.min(r1 + MARGIN + 1, h);
    c0 = Math.max(c0 - MARGIN, 0); c1 = Math.min(c1 + MARGIN + 1, w);
    const crop = makeCanvas(c1 - c0, r1 - r0);
    crop.getContext("2d").drawImage(ctx.canvas, c0, r0, c1 - c0, r1 - r0, 0, 0, c1 - c0, r1 - r0);
    return crop;
  }

  // ---- 2. The forward pass ----------------------------------------------------------
  // A tensor is {h, w, c, data}: a Float32Array in Keras's channels-last order.

  const W = (function decode() {
    const bin = atob(weightsBase64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer); // little-endian, as drawing.py writes it
  })();
  const part = (at, n) => (at < 0 ? null : W.subarray(at, at + n));

  function rescale(x, L) {
    const data = x.data.map((v) => v * L.scale + L.offset);
    return { h: x.h, w: x.w, c: x.c, data };
  }

  // Every output pixel: the bias plus the kernel times the 3×3 (kh×kw) patch around it, over
  // all input channels; "same" padding reads zeros outside the image. Then ReLU.
  function conv(x, L) {
    const { kh, kw, filters: f } = L, c = x.c;
    const top = L.same ? (kh - 1) >> 1 : 0, left = L.same ? (kw - 1) >> 1 : 0;
    const h = L.same ? x.h : x.h - kh + 1, w = L.same ? x.w : x.w - kw + 1;
    const K = part(L.kernel, kh * kw * c * f), B = part(L.bias, f); // kernel: (kh, kw, c, f)
    const out = new Float32Array(h * w * f);
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        const o = (y * w + xx) * f;
        if (B) out.set(B, o);
        for (let i = 0; i < kh; i++) {
          const yi = y + i - top;
          if (yi < 0 || yi >= x.h) continue;
          for (let j = 0; j < kw; j++) {
            const xj = xx + j - left;
            if (xj < 0 || xj >= x.w) continue;
            for (let ch = 0; ch < c; ch++) {
              const v = x.data[(yi * x.w + xj) * c + ch];
              if (v === 0) continue;
              const k = ((i * kw + j) * c + ch) * f;
              for (let n = 0; n < f; n++) out[o + n] += v * K[k + n];
            }
          }
        }
      }
    }
    if (L.relu) for (let i = 0; i < out.length; i++) out[i] = Math.max(out[i], 0);
    return { h, w, c: f, data: out };
  }

  // The largest value of each ph×pw window, window by window ("valid": leftovers dropped).
  function pool(x, L) {
    const h = Math.floor((x.h - L.ph) / L.sh) + 1, w = Math.floor((x.w - L.pw) / L.sw) + 1;
    const out = new Float32Array(h * w * x.c).fill(-Infinity);
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        for (let i = 0; i < L.ph; i++) {
          for (let j = 0; j < L.pw; j++) {
            const at = ((y * L.sh + i) * x.w + xx * L.sw + j) * x.c, o = (y * w + xx) * x.c;
            for (let ch = 0; ch < x.c; ch++) out[o + ch] = Math.max(out[o + ch], x.data[at + ch]);
          }
        }
      }
    }
    return { h, w, c: x.c, data: out };
  }

  // Every output: the bias plus the weighted sum of all inputs. Then ReLU if asked.
  function dense(x, L) {
    const n = x.data.length, u = L.units;
    const K = part(L.kernel, n * u), B = part(L.bias, u); // kernel: (inputs, units)
    const out = B ? Float32Array.from(B) : new Float32Array(u);
    for (let i = 0; i < n; i++) {
      const v = x.data[i];
      if (v === 0) continue;
      for (let j = 0; j < u; j++) out[j] += v * K[i * u + j];
    }
    if (L.relu) for (let j = 0; j < u; j++) out[j] = Math.max(out[j], 0);
    return { h: 1, w: 1, c: u, data: out };
  }

  const RUN = { rescale, conv, pool, dense, flatten: (x) => ({ h: 1, w: 1, c: x.data.length, data: x.data }) };

  // The network on one input (uint8, IN_H × IN_W): probabilities, logits, first conv maps.
  function forward(input) {
    let x = { h: IN_H, w: IN_W, c: 1, data: Float32Array.from(input) }, maps = null;
    for (const L of spec.layers) {
      x = RUN[L.type](x, L);
      if (L.type === "conv" && !maps) maps = x;
    }
    const logits = Array.from(x.data), top = Math.max(...logits); // softmax:
    const e = logits.map((v) => Math.exp(v - top)), total = e.reduce((a, b) => a + b, 0);
    return { probs: e.map((v) => v / total), logits, maps };
  }

  function predict(input) {
    const { probs, logits } = forward(input);
    const order = probs.map((p, i) => i).sort((a, b) => probs[b] - probs[a]);
    const top = order.slice(0, spec.top).map((i) => ({ label: spec.classes[i], p: probs[i] }));
    return { probs, logits, top };
  }

  // The first convolution's maps as one array per filter (row by row), for the tests.
  function featureMaps(input) {
    const m = forward(input).maps, out = [];
    for (let n = 0; n < m.c; n++) {
      const a = new Array(m.h * m.w);
      for (let i = 0; i < m.h * m.w; i++) a[i] = m.data[i * m.c + n];
      out.push(a);
    }
    return { height: m.h, width: m.w, maps: out };
  }

  // ---- 3. The interface -------------------------------------------------------------

  const firstConv = spec.layers.find((L) => L.type === "conv");
  const nMaps = firstConv ? firstConv.filters : 0;
  root.innerHTML = `
    <canvas class="cvd-pad" tabindex="0" role="application" data-prevent-swipe
      aria-roledescription="drawing area" aria-label="Write one of the ${spec.classes.length}
      characters here with a mouse, pen or finger. Control+Z undoes the last stroke, Escape
      clears."></canvas>
    <div class="cvd-col cvd-guesses-col">
      <div class="cvd-head">The network's top ${spec.top}</div>
      <div class="cvd-guesses"></div>
      <div class="cvd-hint">Write one of the ${spec.classes.length} characters in the box.</div>
      <div class="cvd-buttons">
        <button type="button" class="cvd-undo">Undo</button>
        <button type="button" class="cvd-clear">Clear</button>
      </div>
      <div class="cvd-live" aria-live="polite"></div>
    </div>
    <div class="cvd-col">
      <div class="cvd-head">What it sees</div>
      <canvas class="cvd-input" width="${IN_W}" height="${IN_H}" role="img" aria-label="Your
        drawing as the network sees it: ${IN_H} by ${IN_W} gray pixels."></canvas>
      <div class="cvd-head">First layer: ${nMaps} maps</div>
      <div class="cvd-maps" role="img" aria-label="The ${nMaps} feature maps of the first
        convolutional layer for your drawing: bright where a learned kernel responds."></div>
    </div>`;
  const $ = (sel) => root.querySelector(sel);
  const pad = $(".cvd-pad"), seen = $(".cvd-input"), hint = $(".cvd-hint"), live = $(".cvd-live");
  const rows = [];
  for (let i = 0; i < spec.top; i++) {
    const row = document.createElement("div");
    row.className = "cvd-row";
    row.innerHTML = '<span class="cvd-char"></span><span class="cvd-bar"><span></span></span>'
      + '<span class="cvd-p"></span>';
    $(".cvd-guesses").appendChild(row);
    rows.push(row);
  }
  const tiles = [];
  for (let n = 0; n < nMaps; n++) {
    const t = makeCanvas(IN_W, IN_H);
    $(".cvd-maps").appendChild(t);
    tiles.push(t);
  }

  let strokes = [], active = null, pending = false, current = null;

  // values (h × w, row by row) as gray levels, max white; an empty canvas without values.
  function showGray(canvas, values, w, h, max) {
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const ctx = canvas.getContext("2d");
    if (!values) return ctx.clearRect(0, 0, w, h);
    const img = ctx.createImageData(w, h);
    for (let i = 0; i < values.length; i++) {
      const g = max > 0 ? Math.round((255 * values[i]) / max) : 0;
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function redraw() {
    const dpr = window.devicePixelRatio || 1;
    if (pad.width !== Math.round(VIEW_W * dpr)) {
      pad.width = Math.round(VIEW_W * dpr);
      pad.height = Math.round(VIEW_H * dpr);
    }
    const ctx = pad.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    paint(ctx, strokes, (x) => x * dpr, (y) => y * dpr, PEN * dpr, "#222");
  }

  // Redraw, then run the network on the drawing and show what it guesses and sees.
  function update() {
    redraw();
    if (!strokes.length) {
      current = null;
      for (const row of rows) {
        row.querySelector(".cvd-char").textContent = "";
        row.querySelector(".cvd-bar span").style.width = "0";
        row.querySelector(".cvd-p").textContent = "";
      }
      hint.style.visibility = "visible";
      for (const t of [seen, ...tiles]) showGray(t, null, t.width, t.height);
      return;
    }
    hint.style.visibility = "hidden";
    current = preprocess(renderDrawing(strokes));
    const result = forward(current), probs = result.probs;
    const order = probs.map((p, i) => i).sort((a, b) => probs[b] - probs[a]);
    rows.forEach((row, r) => {
      const p = probs[order[r]];
      row.querySelector(".cvd-char").textContent = spec.classes[order[r]];
      row.querySelector(".cvd-bar span").style.width = `${(100 * p).toFixed(1)}%`;
      row.querySelector(".cvd-p").textContent = `${(100 * p).toFixed(p < 0.1 ? 1 : 0)}%`;
    });
    showGray(seen, current, IN_W, IN_H, 255);
    const m = result.maps;
    for (let n = 0; n < tiles.length; n++) {
      const a = new Float32Array(m.h * m.w);
      let max = 0;
      for (let i = 0; i < a.length; i++) max = Math.max(max, (a[i] = m.data[i * m.c + n]));
      showGray(tiles[n], a, m.w, m.h, max); // each map scaled to its own largest value
    }
  }

  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      update();
    });
  }

  function announce() {
    const first = rows[0].querySelector(".cvd-char").textContent;
    live.textContent = first ? `Top guess ${first}, ${rows[0].querySelector(".cvd-p").textContent}` : "";
  }

  function point(e) {
    const r = pad.getBoundingClientRect(); // scaled by reveal.js or a zoom: map back
    return [((e.clientX - r.left) * VIEW_W) / r.width, ((e.clientY - r.top) * VIEW_H) / r.height];
  }

  pad.addEventListener("pointerdown", (e) => {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    e.stopPropagation();
    try {
      pad.setPointerCapture(e.pointerId); // keep the stroke when the pointer leaves the box
    } catch (err) { /* a synthetic event has no pointer to capture */ }
    pad.focus({ preventScroll: true, focusVisible: false }); // keys work; no ring for a pen
    active = e.pointerId;
    strokes.push([point(e)]);
    schedule();
  });
  pad.addEventListener("pointermove", (e) => {
    if (e.pointerId !== active) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) strokes[strokes.length - 1].push(point(ev));
    schedule();
  });
  const end = (e) => {
    if (e.pointerId !== active) return;
    active = null;
    update();
    announce();
  };
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
    pad.addEventListener(type, end);
  }
  // Keep a slide deck from turning the page while a finger writes.
  for (const type of ["touchstart", "touchmove"]) {
    pad.addEventListener(type, (e) => e.stopPropagation(), { passive: true });
  }

  function undo() {
    strokes.pop();
    active = null;
    update();
    announce();
  }
  function clear() {
    strokes = [];
    active = null;
    update();
    announce();
  }
  // Strokes in the drawing area's CSS pixels (VIEW_W × VIEW_H): [[[x, y], ...], ...].
  function drawStrokes(more) {
    for (const s of more) strokes.push(s.map(([x, y]) => [x, y]));
    update();
    announce();
  }
  $(".cvd-undo").addEventListener("click", undo);
  $(".cvd-clear").addEventListener("click", clear);
  pad.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") undo();
    else if (e.key === "Escape" || e.key === "Delete") clear();
    else return;
    e.preventDefault();
    e.stopPropagation(); // not also a slide deck's shortcut
  });
  update();

  window.cvCourseDrawing = window.cvCourseDrawing || {};
  window.cvCourseDrawing[id] = {
    preprocess, preprocessBlob, renderDrawing, predict, featureMaps, drawStrokes, clear, undo,
    strokes: () => strokes.map((s) => s.map((p) => p.slice())),
    input: () => (current ? Array.from(current) : null),
  };
}
