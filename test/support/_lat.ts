import { startTestGateway } from '/work/main/test/support/gateway.ts';
const t = await startTestGateway();
const token = await t.token();
const body = JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] });
for (const [name, url, auth] of [['direct', `${t.demo.url}/v1/chat/completions`, `Bearer ${process.env.UPSTREAM_KEY ?? ''}`], ['gateway', `${t.url}/proxy/openai/v1/chat/completions`, `Bearer ${token}`]] as const) {
  const times: number[] = [];
  for (let i = 0; i < 30; i++) {
    const s = performance.now();
    const r = await fetch(url, { method: 'POST', headers: { authorization: name === 'direct' ? `Bearer ${t.env.UPSTREAM_KEY}` : auth, 'content-type': 'application/json' }, body });
    await r.text();
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  console.log(name, 'median ms', times[15]!.toFixed(2), 'max', times[29]!.toFixed(2));
}
await t.close();
