// The embedding example's own script. <memread-suggest> needs none of this: it only shows, under
// each field, whether its bank has loaded and what was last accepted.
await customElements.whenDefined('memread-suggest');

for (const name of ['letter', 'subject']) {
  const suggest = document.getElementById(`${name}-suggest`);
  const line = document.getElementById(`${name}-status`);
  suggest.ready.then(
    (info) => {
      const { dim, layers, slots } = info.config;
      line.textContent = `Ready: bank “${info.name}” (d = ${dim}, ${layers} layers, ${slots} slots). Type at the end of the text.`;
    },
    (error) => {
      line.textContent = `The bank could not be loaded: ${error.message}`;
      line.classList.add('error');
    },
  );
  suggest.addEventListener('memread-accept', ({ detail }) => {
    line.textContent = `Inserted ${JSON.stringify(detail.text)} (${(detail.prob * 100).toFixed(1)}%).`;
  });
}
