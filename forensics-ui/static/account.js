"use strict";
document.getElementById("new-token").onclick = async () => {
  const out = document.getElementById("token");
  try { const t = await K.send("POST", "/api/v1/tokens"); out.textContent = t.token + "\n(shown once: keep it now)"; }
  catch (e) { out.textContent = "failed: " + e.message; }
};
