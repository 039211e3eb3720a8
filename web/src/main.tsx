import { render } from 'preact';
import { App } from './app.tsx';
import { captureFragmentToken } from './auth.ts';
import './styles.css';

captureFragmentToken();
const root = document.getElementById('app');
if (root !== null) render(<App />, root);
